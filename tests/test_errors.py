"""core.domain.errors: every error a user can cause derives from ClienteleError (its message is written
for the user and safe to show), and keeps its builtin base so `except ValueError` and the like still work."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import core
from core.domain.errors import ClienteleError
from core.domain.scope import ScopeError
from core.domain.timewindow import WindowError
from core.ingest.errors import PayloadError, PayloadTooLarge, Rejected
from core.storage.prune import PruneError
from core.storage.request_log import HistoryError
from core.storage.store import NotFound

# Not caused by a user: an outage is the operator's to fix, and its text comes from the database driver.
NOT_USER_FACING = {"core.ingest.errors.DatabaseUnavailable"}


def _core_exception_classes() -> dict[str, type]:
    found = {}
    for info in pkgutil.walk_packages(core.__path__, "core."):
        if info.name.endswith("__main__") or ".migrations" in info.name:  # Alembic scripts run on import
            continue
        for value in vars(importlib.import_module(info.name)).values():
            if inspect.isclass(value) and issubclass(value, Exception) and value.__module__.startswith("core."):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_every_error_in_core_a_user_can_cause_derives_from_clientele_error():
    classes = _core_exception_classes()
    assert len(classes) >= 10  # the walk found the errors at all
    assert sorted(name for name, cls in classes.items() if not issubclass(cls, ClienteleError) and name not in NOT_USER_FACING) == []


@pytest.mark.parametrize("error, builtin_base", [
    (PayloadError, ValueError), (PayloadTooLarge, ValueError), (WindowError, ValueError), (HistoryError, ValueError),
    (PruneError, ValueError), (NotFound, LookupError), (ScopeError, PermissionError),
])
def test_a_user_facing_error_is_still_caught_by_its_builtin_base(error, builtin_base):
    with pytest.raises(builtin_base):
        raise error("field", "problem") if error in (PayloadError, PayloadTooLarge) else error("problem")


def test_a_rejection_carries_its_reason_as_the_message():
    assert str(Rejected(401, "x-api-key: missing SDK token", "x-api-key")) == "x-api-key: missing SDK token"
