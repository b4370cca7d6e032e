"""Metric cards: a change that rounds to zero is neither good nor bad (issue #14)."""
from __future__ import annotations

from streamlit.proto.Metric_pb2 import Metric
from streamlit.testing.v1 import AppTest

from core.analytics import customers as mc
from core.present.cards import Card, count_card, pct_card


def test_a_count_that_did_not_change_has_a_grey_delta():
    card = count_card("Failed requests", mc.Delta(12, 12), inverse=True)
    assert (card.delta, card.delta_color) == ("0.0%", "off")


def test_a_percentage_that_did_not_change_has_a_grey_delta():
    card = pct_card("Error rate", 2.51, 2.49, inverse=True)
    assert (card.delta, card.delta_color) == ("0.0 pp", "off")


def test_a_real_change_keeps_its_colour():
    assert count_card("Failed requests", mc.Delta(15, 12), inverse=True).delta_color == "inverse"
    assert pct_card("Error rate", 3.0, 2.0).delta_color == "normal"


def _draw(card: Card):
    def script(card):
        from ui.dashboard import card as draw
        draw(card)
    at = AppTest.from_function(script, args=(card,)).run()
    assert not at.exception
    return at.metric[0].proto


def test_an_unchanged_card_is_drawn_grey_without_an_arrow():
    drawn = _draw(Card("Requests", "9", "0.0%", "off"))
    assert (drawn.color, drawn.direction) == (Metric.MetricColor.GRAY, Metric.MetricDirection.NONE)


def test_a_changed_card_keeps_its_arrow():
    drawn = _draw(Card("Requests", "9", "+20.0%", "normal"))
    assert (drawn.color, drawn.direction) == (Metric.MetricColor.GREEN, Metric.MetricDirection.UP)
