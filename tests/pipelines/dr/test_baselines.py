"""CBL arithmetic on hand-made meter histories (no services): like days, 10 of 10, high 5 of 10, capped adjustment."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import polars as pl
import pytest

from pipelines.dr.baselines import customer_baselines, event_slots, like_days, localise

EVENT_DAY = date(2026, 6, 17)  # a Wednesday
START = datetime(2026, 6, 17, 17, 0, tzinfo=UTC)
END = START + timedelta(minutes=30)
EVENT_DAYS = {date(2026, 6, 12)}  # the facility's earlier DR event (weekday 3 back)
HOLIDAYS = {date(2026, 6, 10)}  # weekday 5 back


def _weekdays_back(n: int) -> list[date]:
    days: list[date] = []
    day = EVENT_DAY
    while len(days) < n:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    return days


def _history(levels: dict[date, float], event_day_kw: float | None = 77.0) -> pl.DataFrame:
    """Flat load per day over every 15-minute slot; weekends at 1000 kW; the event day up to its start."""
    rows = []
    day = EVENT_DAY - timedelta(days=30)
    while day <= EVENT_DAY:
        kw = levels.get(day, 1000.0 if day.weekday() >= 5 else None)
        if day == EVENT_DAY:
            kw = event_day_kw
        for slot in range(96):
            ts = datetime.combine(day, time(), UTC) + slot * timedelta(minutes=15)
            if kw is not None and ts < START:
                rows.append({"ts": ts, "kw": kw})
        day += timedelta(days=1)
    return pl.DataFrame(rows)


def _levels() -> dict[date, float]:
    """Weekday k days back draws 10 k kW: older days are higher, so 'high 5' picks the oldest like days."""
    return {day: 10.0 * k for k, day in enumerate(_weekdays_back(14), start=1)}


def test_like_days_are_the_ten_most_recent_complete_business_days_without_events_or_holidays() -> None:
    local = localise(_history(_levels()), "UTC")
    days = like_days(local, EVENT_DAY, [time(17), time(17, 15)], EVENT_DAYS, HOLIDAYS)
    back = _weekdays_back(14)
    assert days == [back[k - 1] for k in (1, 2, 4, 6, 7, 8, 9, 10, 11, 12)]


def test_ten_of_ten_and_high_five_of_ten_with_capped_day_of_adjustment() -> None:
    result = customer_baselines(_history(_levels()), "UTC", START, END, EVENT_DAYS, HOLIDAYS)
    assert result is not None
    ten, high = result["ten_of_ten"], result["high_five_of_ten"]
    # 10 of 10: mean of 10, 20, 40, 60, ..., 120 = 70 kW; the day of draws 77 kW before the event: x 1.1.
    assert ten.unadjusted_ratio == pytest.approx(1.1) and ten.adjustment == pytest.approx(1.1)
    assert ten.kw == {START: pytest.approx(77.0), START + timedelta(minutes=15): pytest.approx(77.0)}
    # high 5 of 10: 80..120 kW, mean 100; 77 / 100 = 0.77 is capped at 0.8.
    assert high.days == sorted(_weekdays_back(12)[7:12])
    assert high.unadjusted_ratio == pytest.approx(0.77) and high.adjustment == pytest.approx(0.8)
    assert list(high.kw.values()) == pytest.approx([80.0, 80.0])


def test_no_day_of_data_means_no_adjustment() -> None:
    result = customer_baselines(_history(_levels(), event_day_kw=None), "UTC", START, END, EVENT_DAYS, HOLIDAYS)
    assert result is not None
    assert result["ten_of_ten"].adjustment == 1.0 and result["ten_of_ten"].unadjusted_ratio is None
    assert list(result["ten_of_ten"].kw.values()) == pytest.approx([70.0, 70.0])


def test_an_incomplete_day_is_not_a_like_day() -> None:
    back = _weekdays_back(14)
    history = _history(_levels()).filter(pl.col("ts") != datetime.combine(back[0], time(17, 15), UTC))
    result = customer_baselines(history, "UTC", START, END, EVENT_DAYS, HOLIDAYS)
    assert result is not None
    assert back[0] not in result["ten_of_ten"].days and back[12] in result["ten_of_ten"].days


def test_fewer_than_five_like_days_give_no_baseline() -> None:
    levels = {day: kw for day, kw in _levels().items() if day in _weekdays_back(4)}
    # weekdays 1, 2, 4 remain (3 is an event day): too few to settle on.
    assert customer_baselines(_history(levels), "UTC", START, END, EVENT_DAYS, HOLIDAYS) is None


def test_a_weekend_event_uses_weekend_days_in_local_time() -> None:
    saturday = datetime(2026, 6, 20, 15, 0, tzinfo=UTC)  # 17:00 in Berlin (UTC+2 in June)
    rows = []
    for back in range(1, 40):
        day = saturday.date() - timedelta(days=back)
        for slot in range(96):
            ts = datetime.combine(day, time(), UTC) + slot * timedelta(minutes=15)
            # Only the local 17:00 slot differs, so the baseline shows which UTC slot was matched.
            local_17 = ts.hour == 15 and ts.minute == 0
            rows.append({"ts": ts, "kw": (500.0 if day.weekday() >= 5 else 5.0) + (1.0 if local_17 else 0.0)})
    result = customer_baselines(pl.DataFrame(rows), "Europe/Berlin", saturday, saturday + timedelta(minutes=15),
                                set(), set())
    assert result is not None
    assert all(day.weekday() >= 5 for day in result["ten_of_ten"].days)
    assert result["ten_of_ten"].kw == {saturday: pytest.approx(501.0)}


def test_event_slots_are_calendar_quarter_hours_overlapping_the_window() -> None:
    start = datetime(2026, 6, 17, 17, 5, tzinfo=UTC)
    assert event_slots(start, start + timedelta(minutes=20)) == [
        datetime(2026, 6, 17, 17, 0, tzinfo=UTC), datetime(2026, 6, 17, 17, 15, tzinfo=UTC)]
