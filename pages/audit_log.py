"""Audit log (Admin): who did what, when and from where; filtered by action, user and dates, paged, as CSV."""
import streamlit as st

from core.present import audit as audit_view
from core.present import fmt
from core.storage import models
from core.storage.audit import AuditError
from ui import widgets
from ui.guard import require_role

user = require_role("admin")
engine = models.get_engine()
tz = widgets.viewer_tz()

st.title("Audit log")
st.caption("Logins, account and role changes, links, SDK tokens, OpenAPI specs, imports, CSV downloads and notes: "
           f"who, from which address, newest first. Entries cannot be changed. Times in {tz}.")
choices = audit_view.filter_choices(engine)
action_col, user_col, from_col, to_col = st.columns(4)
action = action_col.selectbox("Action", choices.actions, index=None, placeholder="Any action", key="audit_action")
who = user_col.selectbox("User", choices.users, index=None, placeholder="Anyone", key="audit_user")
from_date = from_col.date_input("From", value=None, format="YYYY-MM-DD", key="audit_from")
to_date = to_col.date_input("To (included)", value=None, format="YYYY-MM-DD", key="audit_to")
try:
    query = audit_view.query_for(action=action, user=who, from_date=from_date, to_date=to_date, tz=tz)
except AuditError as exc:
    st.error(str(exc))
    st.stop()

page_no = st.number_input("Page", min_value=1, step=1, key="audit_page")
result = audit_view.audit_page(engine, query, tz, page_no)
st.caption(f"{result.caption} · page {result.page} of {result.pages}")
st.dataframe(result.table, hide_index=True, width="stretch",
             column_config={"Time": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss z", width=audit_view.WIDTHS["Time"]),
                            **{c: st.column_config.TextColumn(width=w) for c, w in audit_view.WIDTHS.items() if c != "Time"}})
if result.total:
    widgets.csv_download(audit_view.export_table(engine, query, tz), "audit-log.csv", key="audit_csv",
                         help=f"The newest {fmt.count(audit_view.MAX_EXPORT_ROWS)} matching entries at most")
