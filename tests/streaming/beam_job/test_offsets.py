"""How a run's record budget is split over the partitions that have records: at one time, else water-filling."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from streaming.beam_job.offsets import ALIGN_PRECISION_MS, fair_shares, time_aligned_shares


def test_a_lone_busy_partition_gets_the_whole_budget() -> None:
    assert fair_shares([30_000], 5_000) == [5_000]
    assert fair_shares([10, 30_000, 7], 5_000) == [10, 4_983, 7]


def test_the_budget_is_split_evenly_when_every_partition_has_enough() -> None:
    assert fair_shares([9_000, 9_000, 9_000, 9_000], 5_000) == [1_250] * 4


@given(backlogs=st.lists(st.integers(1, 100_000), min_size=1, max_size=24), budget=st.integers(1, 20_000))
def test_shares_never_exceed_a_backlog_use_the_budget_and_always_progress(backlogs: list[int], budget: int) -> None:
    shares = fair_shares(backlogs, budget)
    assert all(1 <= s <= b for s, b in zip(shares, backlogs, strict=True))
    assert sum(shares) <= max(budget, len(backlogs))  # at least one record each, else within the budget
    if sum(backlogs) <= budget:
        assert shares == backlogs
    else:
        assert sum(shares) >= min(budget, sum(backlogs)) - len(backlogs)  # the budget is (nearly) all used


def _records_before(stamps: dict[str, list[int]]) -> Callable[[int], dict[str, int]]:
    """What Kafka's ListOffsets answers for partitions holding records stamped `stamps` (ascending)."""
    return lambda t_ms: {tp: bisect_left(ts, t_ms) for tp, ts in stamps.items()}


def test_a_run_over_budget_ends_every_partition_at_one_time() -> None:
    # Facility a's records hold more readings (fewer records per second) than b's: equal record
    # counts would end a's part of the run far later in time than b's.
    now = 1_000_000
    stamps = {"a": list(range(now - 60_000, now, 1_000)), "b": list(range(now - 60_000, now, 100))}
    shares = time_aligned_shares(_records_before(stamps), 110, now_ms=now)  # type: ignore[arg-type]
    assert shares is not None and sum(shares.values()) <= 110
    last = {tp: stamps[tp][n - 1] for tp, n in shares.items()}
    assert abs(last["a"] - last["b"]) <= 1_000  # the same point in time, to a's spacing
    assert shares == {"a": 10, "b": 100}


@given(
    stamps=st.dictionaries(st.sampled_from("abcdef"), st.lists(st.integers(0, 600_000), min_size=1, max_size=300),
                           min_size=1),
    budget=st.integers(1, 1_000),
)
def test_aligned_shares_fit_the_budget_and_cut_at_one_time(stamps: dict[str, list[int]], budget: int) -> None:
    stamps = {tp: sorted(ts) for tp, ts in stamps.items()}
    now = 600_001
    shares = time_aligned_shares(_records_before(stamps), budget, now_ms=now)  # type: ignore[arg-type]
    if shares is None:  # the earliest instant alone holds more than the budget: the caller falls back to fair shares
        first = min(ts[0] for ts in stamps.values())
        assert sum(bisect_left(ts, first + ALIGN_PRECISION_MS) for ts in stamps.values()) > budget
        return
    assert 0 < sum(shares.values()) <= budget
    taken = [ts[n - 1] for tp, ts in stamps.items() if (n := shares[tp])]
    left = [ts[n] for tp, ts in stamps.items() if (n := shares[tp]) < len(ts)]
    assert not left or max(taken) < min(left)  # one cut time: nothing left behind is older than what was taken
