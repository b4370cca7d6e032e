"""Demo mode: generate the demo data once per process (in a background thread), and list the demo accounts."""
from __future__ import annotations

import importlib.util
import threading

import streamlit as st

from core.auth.users import has_users
from core.domain import config, timewindow
from core.present import people

# One demo bootstrap per process, however many sessions arrive on an empty database at once.
_demo_lock = threading.Lock()
_demo_job: dict = {}  # the bootstrap thread of this process and its progress


def _demo_module():
    # core/demo.py is written separately; without it the app still starts (and offers the first Admin form).
    if importlib.util.find_spec("core.demo") is None:
        return None
    from core.demo import accounts as demo

    return demo


def ensure_demo_data(engine) -> None:
    """Demo mode, empty database: generate the demo traffic and accounts once, with a progress bar.

    The work runs in a background thread: a browser rerun (a cookie component reporting, a reload)
    interrupts the script, and would otherwise cut the bootstrap off between traffic and accounts.
    Every run, this one or the next, just waits for the same thread.
    """
    if has_users(engine):
        return
    demo = _demo_module()
    if demo is None:
        st.warning("Demo data is not available in this installation (core/demo.py is missing).")
        return
    with _demo_lock:
        worker = _demo_job.get("thread")
        if worker is None or (not worker.is_alive() and not has_users(engine)):
            _demo_job.update(done=0, total=0, error=None)

            def work() -> None:
                try:
                    # The demo's traffic ends at the dashboards' "now" (CLIENTELE_NOW when set). Its last days
                    # and the accounts first; the older days then load in a background process.
                    summary = demo.first_start(engine, requests=config.settings().demo_requests, now=timewindow.current_now(),
                                               progress=lambda done, total: _demo_job.update(done=done, total=total))
                    if not summary.get("skipped"):
                        demo.finish_in_background(engine)
                except Exception as exc:  # shown to the visitor below; the thread must not die silently
                    _demo_job["error"] = str(exc)

            worker = threading.Thread(target=work, name="clientele-demo-bootstrap", daemon=True)
            _demo_job["thread"] = worker
            worker.start()
    bar = st.progress(0.0, text="Loading demo data (first start only)…")
    while worker.is_alive():
        done, total = _demo_job["done"], _demo_job["total"]
        bar.progress(min(done / total, 1.0) if total else 0.0,
                     text=f"Loading demo data (first start only): {done:,} of {total:,} requests" if total
                     else "Loading demo data (first start only)…")
        worker.join(0.25)
    bar.empty()
    if _demo_job.get("error"):
        st.error(f"Loading the demo data failed: {_demo_job['error']}")


def show_demo_loading(engine) -> None:
    """In the sidebar while a first start's older days load: how far it got (or why it stopped)."""
    demo = _demo_module()
    if demo is None:
        return
    progress = demo.loading(engine)
    if progress is not None:
        demo.resume_first_start(engine)  # the loader was killed (a restart): it goes on where it stopped
        stored, total = progress
        st.sidebar.info(f"Demo data loading: {stored:,} of {total:,} requests. The last days are in; older days "
                        "appear as they load.", icon=":material/hourglass_top:")
        return
    failed = (demo.demo_marker(engine) or {}).get("failed")
    if failed:
        st.sidebar.warning(f"The demo's older days did not finish loading ({failed}). To start the demo again, "
                           "stop the app, delete data/clientele.db and run the README's first command.")


def show_demo_accounts(engine) -> None:
    if not config.settings().is_embedded:
        return
    demo = _demo_module()
    accounts = demo.demo_accounts(engine) if demo is not None else []
    if not accounts:
        return
    st.subheader("Demo accounts")
    st.caption("This is a demo workspace with generated traffic. Log in as any of these:")
    st.dataframe(people.demo_accounts_table(accounts), hide_index=True,
                 column_config={name: st.column_config.TextColumn(width=px) for name, px in people.DEMO_ACCOUNT_WIDTHS.items()})
