"""DR events: the list with status, each facility's saga state with target vs achieved, and the audit log."""

import streamlit as st

from apps.streamlit import data_ops
from apps.streamlit.freshness import ago, live, safely

st.title("DR events")


def dr_events() -> None:
    events: list[dict[str, object]] = safely(data_ops.dr_events, [])
    open_ = [e for e in events if e["status"] in ("pending", "dispatching", "active")]
    if open_:
        st.warning(f"{len(open_)} DR event(s) open: {', '.join(str(e['event_id']) for e in open_)}",
                   icon=":material/bolt:")
    st.subheader("Events")
    if events:
        st.dataframe([{**e, "updated": ago(e["updated_at"])} for e in events], hide_index=True)  # type: ignore[arg-type]
    else:
        st.caption("No DR events received yet.")
    st.subheader("Per-facility saga state")
    saga: list[dict[str, object]] = safely(data_ops.dr_participation, [])
    if saga:
        st.dataframe([{**s, "updated": ago(s["updated_at"])} for s in saga], hide_index=True)  # type: ignore[arg-type]
    else:
        st.caption("No facility has taken part in a DR event yet.")
    st.subheader("Audit log (append-only)")
    audit: list[dict[str, object]] = safely(data_ops.dr_audit_log, [])
    if audit:
        st.dataframe(audit, hide_index=True)
    else:
        st.caption("The audit log is empty.")


live(dr_events)
