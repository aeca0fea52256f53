"""DR events: list and saga timeline, per-facility saga state, target vs achieved with baselines, notices, audit log."""

import polars as pl
import streamlit as st

from apps.streamlit import charts, data_dr
from apps.streamlit.freshness import ago, live, safely

st.title("DR events")
SAGA_COLUMNS = ("event_id", "facility_id", "state", "target_reduction_kw", "achieved_reduction_kw", "forecast_quality",
                "error", "updated_at")


def _events(events: list[dict[str, object]]) -> None:
    open_ = [e for e in events if e["status"] in data_dr.OPEN]
    if open_:
        named = ", ".join(f"{e['event_id']} ({e['status']})" for e in open_)
        st.warning(f"{len(open_)} DR event(s) open: {named}", icon=":material/bolt:")
    st.subheader("Events")
    if not events:
        st.caption("No DR events received yet.")
        return
    st.dataframe([{k: v for k, v in e.items() if k != "verification"} | {"updated": ago(e["updated_at"])}  # type: ignore[arg-type]
                  for e in events], hide_index=True)


def _timeline(events: list[dict[str, object]]) -> None:
    st.subheader("Timeline")
    newest = events[:10]
    ids = tuple(str(e["event_id"]) for e in newest)
    changes: list[dict[str, object]] = safely(lambda: data_dr.state_changes(ids), [])
    segments = data_dr.timeline(changes, newest)
    if segments.height:
        st.altair_chart(charts.saga_timeline(segments), width="stretch")
        st.caption("Each facility's saga state over time (from the audit log) of the 10 newest events; "
                   "dashed: the event's window.")
    else:
        st.caption("No saga transitions recorded for the newest events yet.")


def _saga(saga: list[dict[str, object]]) -> None:
    st.subheader("Per-facility saga state")
    if not saga:
        st.caption("No facility has taken part in a DR event yet.")
        return
    st.dataframe([{k: s.get(k) for k in SAGA_COLUMNS} | {"updated": ago(s["updated_at"])}  # type: ignore[arg-type]
                  for s in saga], hide_index=True)


def _achieved(saga: list[dict[str, object]], events: list[dict[str, object]]) -> None:
    st.subheader("Target vs achieved")
    table = data_dr.baselines(saga, events)
    if not table:
        st.caption("Nothing to compare yet.")
        return
    verified = [r for r in table if r["achieved_kw"] is not None]
    if verified:
        frame = pl.DataFrame(verified).select("lane", pl.col("target_kw", "achieved_kw").cast(pl.Float64))
        st.altair_chart(charts.target_vs_achieved(frame.head(20)), width="stretch")
    st.dataframe([{k: v for k, v in r.items() if k != "lane"} for r in table], hide_index=True)
    st.caption("achieved = baseline - metered over the event window; the baseline reported is `baseline_method` "
               "(10 of 10, high 5 of 10 or the forecast P50); every baseline the verification computed is shown.")


def _notices() -> None:
    st.subheader("Manager notices")
    notices: list[dict[str, object]] = safely(data_dr.manager_notices, [])
    if not notices:
        st.caption("No facility manager has been notified (no facility needed compensation or manual action).")
        return
    compensated = [n for n in notices if n.get("facility_state") == "compensated"]
    if compensated:
        st.info(f"{len(compensated)} notice(s) about compensated facilities: "
                f"{', '.join(sorted({str(n['facility_id']) for n in compensated}))}", icon=":material/mail:")
    st.dataframe(notices, hide_index=True)


def dr_events() -> None:
    events: list[dict[str, object]] = safely(data_dr.dr_events, [])
    saga: list[dict[str, object]] = safely(data_dr.dr_participation, [])
    _events(events)
    _timeline(events)
    _saga(saga)
    _achieved(saga, events)
    _notices()
    st.subheader("Audit log (append-only)")
    audit: list[dict[str, object]] = safely(data_dr.dr_audit_log, [])
    if audit:
        st.dataframe([{"age": ago(a["ts"]), **a} for a in audit], hide_index=True)  # type: ignore[arg-type]
    else:
        st.caption("The audit log is empty.")


live(dr_events)
