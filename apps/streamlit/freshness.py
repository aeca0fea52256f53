"""Honest freshness (S1), shared by every page: ages, stale banners, error banners and the refresh cadence.

Pages refresh every `ui_refresh_s` (15 s), every `ui_fast_refresh_s` (5 s) while a DR event
is being acted on (dispatching, active, releasing) or a facility is above `ui_high_load_ratio`
of its contract demand. A store that cannot answer becomes an error banner, and the numbers it
would have given are not shown.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import streamlit as st

from apps.streamlit import data, data_dr

T = TypeVar("T")


def age_s(ts: datetime | None) -> float | None:
    return None if ts is None else max(0.0, (datetime.now(UTC) - ts).total_seconds())


def ago(ts: datetime | None) -> str:
    """'12 s ago', '4 min ago', '3 h ago', or 'never'."""
    seconds = age_s(ts)
    if seconds is None:
        return "never"
    if seconds < 120:
        return f"{seconds:.0f} s ago"
    return f"{seconds / 60:.0f} min ago" if seconds < 7200 else f"{seconds / 3600:.0f} h ago"


def is_stale(ts: datetime | None) -> bool:
    seconds = age_s(ts)
    return seconds is None or seconds > data.settings().ui_stale_after_s


def safely(read: Callable[[], T], fallback: T) -> T:
    """`read()`, or `fallback` under an error banner when its store is down (after one immediate retry)."""
    try:
        return read()
    except data.StoreUnavailable as exc:
        st.error(f"{exc} - those numbers are not shown; retrying every refresh.", icon=":material/error:")
        return fallback


def refresh_interval() -> float:
    """Fast while a DR event is acted on or a facility is near its contract demand (or a store is failing)."""
    s = data.settings()
    try:
        if set(data_dr.active_dr_facilities().values()) & set(data_dr.ACTING):
            return s.ui_fast_refresh_s
        contract = {str(f["facility_id"]): float(str(f["contract_demand_kw"])) for f in data.facilities()}
        loads = data.current_load()
    except data.StoreUnavailable:
        return s.ui_fast_refresh_s
    high = any(float(str(v["kw"])) > s.ui_high_load_ratio * contract.get(fid, float("inf")) for fid, v in loads.items())
    return s.ui_fast_refresh_s if high else s.ui_refresh_s


def live(body: Callable[[], None]) -> None:
    """Run `body` as a fragment that reruns at the current refresh interval, switching cadence when needed."""
    interval = st.session_state.setdefault("refresh_s", data.settings().ui_refresh_s)

    @st.fragment(run_every=interval)
    def tick() -> None:
        body()
        wanted = refresh_interval()
        st.caption(f"Updated {datetime.now(UTC):%H:%M:%S} UTC · refreshing every {wanted:.0f} s")
        if wanted != st.session_state["refresh_s"]:
            st.session_state["refresh_s"] = wanted
            st.rerun()  # the whole page, so the fragment is rebuilt with the new cadence

    tick()
