"""How a run's record budget is split over the partitions that have records (water-filling)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streaming.beam_job.offsets import fair_shares


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
