"""The sections of the Data page (Admin): import payload files, manage APIs and their OpenAPI specs,
connect a Treblle SDK, inspect rejected payloads and SDK clocks. Secrets (SDK tokens) are shown once, right after
they are made, and never stored in clear."""
from __future__ import annotations

import sqlalchemy as sa
import streamlit as st

from core.api_docs import upload as spec_upload
from core.api_docs.spec import SpecError
from core.domain import config, timewindow
from core.ingest.errors import PayloadError
from core.present import data_sources as data_admin
from core.present import sdk_setup
from core.storage import cache, store
from ui import audit as audit_ui
from ui import widgets
from ui.widgets import md_escape

_FLASH = "data_flash"  # {"title", "api_key", "sdk_token"} shown once on the next run


def _flash(**values) -> None:
    st.session_state[_FLASH] = values
    st.rerun()


def _data_changed(engine: sa.Engine) -> None:
    """New requests or APIs: make every page see them now rather than after the cache's next check."""
    cache.refresh(engine)
    st.cache_data.clear()


def import_section(engine: sa.Engine) -> None:
    st.caption("Treblle payloads as .json (one payload or a list), .ndjson (one per line), optionally gzipped. "
               "Each payload goes to the API whose api_key it carries, unless you pick an API here.")
    apis = store.list_apis(engine)
    if not apis:
        st.info("Create an API first (APIs tab): every payload belongs to one API.", icon=":material/info:")
        return
    with st.form("import_files", clear_on_submit=True):
        files = st.file_uploader("Payload files", type=list(data_admin.IMPORT_TYPES), accept_multiple_files=True)
        keys = {a["api_key"]: a["name"] for a in apis}
        api_key = st.selectbox("Attribute to", [None, *keys], format_func=lambda k: keys.get(k, "the api_key in each payload"))
        timestamps = st.selectbox("Timestamps are in", list(data_admin.TIMESTAMP_CHOICES),
                                  format_func=data_admin.TIMESTAMP_CHOICES.get,
                                  help="Files have no receive time to check the SDK's clock against: say which zone "
                                       "data.request.timestamp is in.")
        submitted = st.form_submit_button("Import", type="primary", icon=":material/upload_file:")
    if not submitted:
        return
    if not files:
        st.warning("Choose at least one file to import.")
        return
    bar = st.progress(0.0, text="Importing…")

    def on_file(done: int, name: str) -> None:
        bar.progress(done / len(files), text=f"Importing {name} ({done + 1} of {len(files)})" if name else "Done")

    try:
        report = data_admin.import_files(engine, [(f.name, f.getvalue()) for f in files], api_key, on_file, timestamps)
    except PayloadError as exc:
        st.error(md_escape(str(exc)))
        return
    audit_ui.record("data.import", target="file:" + ", ".join(f.name for f in files),
                    detail={"via": "upload", "accepted": report.accepted, "rejected": len(report.rejected)})
    _data_changed(engine)
    (st.success if report.ok else st.warning)(data_admin.import_summary(report))
    if report.rejected:
        st.caption("Rejected payloads (also kept under Rejected payloads):")
        st.dataframe(data_admin.rejections_table(report), hide_index=True, width="stretch")


def apis_section(engine: sa.Engine, tz: str) -> None:
    flash = st.session_state.pop(_FLASH, None)
    if flash:
        st.success(md_escape(flash["title"]))
        st.warning("Copy the SDK token now: it is shown only once (Clientele keeps only its hash).", icon=":material/key:")
        if flash.get("api_key"):
            st.text("API key")
            st.code(flash["api_key"], language=None)
        st.text("SDK token")
        st.code(flash["sdk_token"], language=None)
        setup_recipes(flash.get("api_key") or "<this API's key>", flash["sdk_token"])
    table = data_admin.apis_table(engine, tz)
    if table.height:
        st.dataframe(table, hide_index=True, width="stretch")
    else:
        widgets.empty_state("no_apis")
    left, right = st.columns(2)
    with left.form("create_api", clear_on_submit=True):
        st.markdown("**New API**")
        name = st.text_input("Name", max_chars=200, placeholder="e.g. Orders API")
        if st.form_submit_button("Create API", icon=":material/add:"):
            try:
                made = store.create_api(engine, name)
            except ValueError as exc:
                st.error(md_escape(str(exc)))
            else:
                audit_ui.record("api.create", target=f"api:{made['api_id']}", detail={"api": name.strip()})
                _data_changed(engine)
                _flash(title=f"API {name.strip()!r} created.", api_key=made["api_key"], sdk_token=made["sdk_token"])
    if not table.height:
        return
    names = dict(zip(table["API ID"].to_list(), table["Name"].to_list()))
    keys = dict(zip(table["API ID"].to_list(), table["API key"].to_list()))
    with right.form("rotate_token"):
        st.markdown("**Rotate SDK token**")
        api_id = st.selectbox("API", list(names), format_func=names.get, key="rotate_api")
        sure = st.checkbox("Revoke the current token (SDKs using it are refused from now on)")
        if st.form_submit_button("Rotate token", icon=":material/autorenew:"):
            if not sure:
                st.error("Tick the box to confirm: the current token stops working at once.")
            else:
                token = store.rotate_sdk_token(engine, api_id)
                audit_ui.record("sdk_token.rotate", target=f"api:{api_id}", detail={"api": names[api_id]})
                _flash(title=f"New SDK token for {names[api_id]!r}; the old one is revoked.", api_key=keys[api_id],
                       sdk_token=token)
    spec_section(engine, names)


def spec_section(engine: sa.Engine, names: dict[int, str]) -> None:
    st.markdown("**OpenAPI spec**")
    st.caption("Upload an OpenAPI 3.0/3.1 file (JSON or YAML) to document an API; without one, its docs are inferred "
               "from traffic.")
    with st.form("upload_spec", clear_on_submit=True):
        api_id = st.selectbox("API", list(names), format_func=names.get, key="spec_api")
        upload = st.file_uploader("Spec file", type=["json", "yaml", "yml"], max_upload_size=max(1, spec_upload.MAX_SPEC_BYTES >> 20))
        c1, c2 = st.columns(2)
        upload_clicked = c1.form_submit_button("Upload spec", icon=":material/upload:")
        remove_clicked = c2.form_submit_button("Remove uploaded spec", icon=":material/delete:")
    if upload_clicked:
        if upload is None:
            st.warning("Choose a spec file first.")
            return
        try:
            spec_upload.upload_spec(engine, api_id, upload.getvalue(), upload.name, actor=audit_ui.actor())
        except (SpecError, store.NotFound) as exc:
            st.error(md_escape(str(exc)))
            return
        st.success(md_escape(f"Spec uploaded for {names[api_id]!r}; the API docs now show it."))
    elif remove_clicked:
        try:
            spec_upload.remove_spec(engine, api_id, actor=audit_ui.actor())
        except store.NotFound as exc:
            st.error(md_escape(str(exc)))
            return
        st.success(md_escape(f"Uploaded spec of {names[api_id]!r} removed; its docs are inferred from traffic again."))


def setup_recipes(api_key: str, sdk_token: str | None) -> None:
    """The collector check and one tab per SDK, with this API's values filled in."""
    url = config.settings().collector_url
    st.markdown(f"Collector URL: `{url}` (set `CLIENTELE_COLLECTOR_URL` to change what this page shows). "
                "Start it with `python -m core collector`; check it with:")
    st.code(sdk_setup.curl_check(url), language="bash")
    recipes = sdk_setup.recipes(url, api_key, sdk_token)
    for tab, recipe in zip(st.tabs([r.sdk for r in recipes]), recipes):
        with tab:
            for title, code, language in recipe.steps:
                st.caption(title)
                st.code(code, language=language)
            st.caption(recipe.note)


def sdk_section(engine: sa.Engine) -> None:
    apis = store.list_apis(engine)
    if not apis:
        widgets.empty_state("no_apis")
        return
    names = {a["id"]: a["name"] for a in apis}
    api_id = st.selectbox("API", list(names), format_func=names.get, key="sdk_api")
    api_key = next(a["api_key"] for a in apis if a["id"] == api_id)
    st.caption("SDK tokens are shown only when an API is created or its token rotated (APIs tab); the snippets "
               "below show where it goes.")
    setup_recipes(api_key, None)


def rejected_section(engine: sa.Engine, tz: str) -> None:
    rows = store.rejected_payloads(engine, limit=200)
    if not rows:
        st.info("No payload has been rejected. Payloads the collector or an import cannot accept appear here with "
                "the reason.", icon=":material/check_circle:")
        return
    st.caption("The 200 most recent; raw payloads are kept truncated, and not at all when the sender did not "
               "authenticate (401).")
    table = data_admin.rejected_table(rows, tz)
    st.dataframe(table, hide_index=True, width="stretch")
    widgets.csv_download(table, "rejected-payloads.csv", key="csv_rejected")
    by_id = {r["id"]: r for r in rows}
    chosen = st.selectbox("Show the raw payload of", list(by_id), key="rejected_pick",
                          format_func=lambda i: f"#{i} · {by_id[i]['source']}")
    raw = by_id[chosen]["raw"]
    st.code("(not kept: the sender did not authenticate)" if raw is None else raw or "(empty)", language=None, wrap_lines=True)


def clocks_section(engine: sa.Engine, tz: str) -> None:
    report = data_admin.clock_report(engine, timewindow.current_now(), tz)
    future = report.future_text(tz)
    if future:
        st.warning(md_escape(future), icon=":material/update:")
    if not report.skews.height:
        st.info("Every SDK clock is right: the collector believed each timestamp it received (within 15 minutes of "
                "when the payload arrived).", icon=":material/check_circle:")
        return
    st.caption(md_escape("SDKs whose timestamps disagree with when the collector received them. A clock off by more "
                         "than 15 minutes: those requests are stored at their receive time. A mislabelled zone: the SDK "
                         "sends UTC but names its host's zone in server.timezone; the collector reads them as UTC, and "
                         f"the skew is how far the labelled reading would be off. Times in {tz}."))
    st.dataframe(report.skews, hide_index=True, width="stretch")
