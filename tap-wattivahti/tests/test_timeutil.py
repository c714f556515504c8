"""Unit tests of the pure time module: naive local times → UTC instants, and request windows."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

from tap_wattivahti.timeutil import (
    candidate_instants,
    local_midnight,
    parse_local,
    place_values,
    plan_windows,
)

UTC = timezone.utc
HELSINKI = ZoneInfo("Europe/Helsinki")
FALL_DAY_START = datetime(2025, 10, 25, 21, tzinfo=UTC)  # 2025-10-26 00:00 local
FALL_DAY_STOP = datetime(2025, 10, 26, 22, tzinfo=UTC)  # 2025-10-27 00:00 local


def q(text: str) -> Decimal:
    return Decimal(text)


def test_fall_pairs_take_first_then_second_occurrence_in_the_order_sent():
    sent = [
        ("2025-10-26T02:45:00", q("0.090")),
        ("2025-10-26T03:00:00", q("0.102")),
        ("2025-10-26T03:00:00", q("0.116")),
        ("2025-10-26T03:15:00", q("0.098")),
        ("2025-10-26T03:15:00", q("0.096")),
        ("2025-10-26T04:00:00", q("0.120")),
    ]
    placement = place_values(sent, HELSINKI, FALL_DAY_START, FALL_DAY_STOP)
    assert placement.rejected == []
    placed = {r.instant: r.quantity for r in placement.readings}
    assert placed == {
        datetime(2025, 10, 25, 23, 45, tzinfo=UTC): q("0.090"),
        datetime(2025, 10, 26, 0, 0, tzinfo=UTC): q("0.102"),  # 03:00+03:00
        datetime(2025, 10, 26, 0, 15, tzinfo=UTC): q("0.098"),
        datetime(2025, 10, 26, 1, 0, tzinfo=UTC): q("0.116"),  # 03:00+02:00
        datetime(2025, 10, 26, 1, 15, tzinfo=UTC): q("0.096"),
        datetime(2025, 10, 26, 2, 0, tzinfo=UTC): q("0.120"),
    }
    assert [r.instant for r in placement.readings] == sorted(placed)


def test_window_starting_inside_the_repeated_hour_places_the_second_occurrence():
    second_0330 = datetime(2025, 10, 26, 1, 30, tzinfo=UTC)  # 03:30+02:00
    sent = [("2025-10-26T03:30:00", q("0.106")), ("2025-10-26T03:45:00", q("0.093"))]
    placement = place_values(sent, HELSINKI, second_0330, FALL_DAY_STOP)
    assert [(r.instant, r.quantity) for r in placement.readings] == [
        (second_0330, q("0.106")),
        (second_0330 + timedelta(minutes=15), q("0.093")),
    ]


def test_value_in_the_spring_gap_is_rejected_naming_its_time():
    start = datetime(2025, 3, 29, 22, tzinfo=UTC)
    sent = [
        ("2025-03-30T02:45:00", q("0.1")),
        ("2025-03-30T03:15:00", q("0.2")),
        ("2025-03-30T04:00:00", q("0.3")),
    ]
    placement = place_values(sent, HELSINKI, start, start + timedelta(days=1))
    assert [r.instant for r in placement.readings] == [
        datetime(2025, 3, 30, 0, 45, tzinfo=UTC),
        datetime(2025, 3, 30, 1, 0, tzinfo=UTC),  # 04:00+03:00 follows 02:45+02:00
    ]
    [rejected] = placement.rejected
    assert rejected.time == "2025-03-30T03:15:00"
    assert rejected.quantity == q("0.2")
    assert "spring-forward gap" in rejected.reason


def test_repeated_time_beyond_its_occurrences_is_rejected_not_merged():
    sent = [
        ("2025-10-26T03:00:00", q("0.102")),
        ("2025-10-26T03:00:00", q("0.116")),
        ("2025-10-26T03:00:00", q("0.500")),
        ("2025-06-10T12:00:00", q("0.200")),
        ("2025-06-10T12:00:00", q("0.300")),
    ]
    start = datetime(2025, 6, 1, tzinfo=UTC)
    placement = place_values(sent, HELSINKI, start, FALL_DAY_STOP)
    assert [(r.instant, r.quantity) for r in placement.readings] == [
        (datetime(2025, 6, 10, 9, tzinfo=UTC), q("0.200")),
        (datetime(2025, 10, 26, 0, tzinfo=UTC), q("0.102")),
        (datetime(2025, 10, 26, 1, tzinfo=UTC), q("0.116")),
    ]
    assert [(r.time, r.quantity) for r in placement.rejected] == [
        ("2025-10-26T03:00:00", q("0.500")),
        ("2025-06-10T12:00:00", q("0.300")),
    ]
    assert all("was sent" in r.reason for r in placement.rejected)


def test_values_outside_the_window_and_unparseable_times_are_rejected():
    start = datetime(2025, 6, 10, 9, tzinfo=UTC)
    sent = [("2025-06-10T11:45:00", q("1")), ("2025-06-10T12:00:00", None), ("noon", q("2"))]
    placement = place_values(sent, HELSINKI, start, start + timedelta(hours=1))
    assert [(r.instant, r.quantity) for r in placement.readings] == [(start, None)]
    assert [r.reason for r in placement.rejected] == [
        "lies outside the requested window",
        "is not an ISO 8601 time",
    ]


def test_candidates_of_naive_times_follow_the_dst_rules():
    assert candidate_instants(datetime(2025, 3, 30, 3, 30), HELSINKI) == []
    assert candidate_instants(datetime(2025, 10, 26, 3, 30), HELSINKI) == [
        datetime(2025, 10, 26, 0, 30, tzinfo=UTC),
        datetime(2025, 10, 26, 1, 30, tzinfo=UTC),
    ]
    assert candidate_instants(datetime(2025, 1, 15, 12), HELSINKI) == [
        datetime(2025, 1, 15, 10, tzinfo=UTC)
    ]


def test_windows_end_at_local_midnight_never_cross_a_month_and_respect_the_limit():
    start = datetime(2024, 1, 20, 10, 30, tzinfo=UTC)
    stop = datetime(2024, 3, 5, tzinfo=UTC)
    windows = plan_windows(start, stop, HELSINKI, 31)
    assert windows == [
        (start, local_midnight(date(2024, 2, 1), HELSINKI)),
        (local_midnight(date(2024, 2, 1), HELSINKI), local_midnight(date(2024, 3, 1), HELSINKI)),
        (local_midnight(date(2024, 3, 1), HELSINKI), stop),
    ]
    weekly = plan_windows(start, stop, HELSINKI, 7)
    assert [b - a <= timedelta(days=7) for a, b in weekly] == [True] * len(weekly)
    assert weekly[0][1] == local_midnight(date(2024, 1, 27), HELSINKI)
    assert weekly[1][1] == local_midnight(date(2024, 2, 1), HELSINKI)  # month boundary
    assert all(a == b for (_, a), (b, _) in pairwise(weekly))  # contiguous
    assert plan_windows(stop, stop, HELSINKI, 31) == []


def test_three_years_are_36_monthly_windows():
    start = local_midnight(date(2021, 1, 1), HELSINKI)
    stop = local_midnight(date(2024, 1, 1), HELSINKI)
    windows = plan_windows(start, stop, HELSINKI, 31)
    assert len(windows) == 36
    assert windows[0] == (start, local_midnight(date(2021, 2, 1), HELSINKI))


def test_naive_setting_times_are_local_and_offsets_are_kept():
    assert parse_local("2024-01-01", HELSINKI) == datetime(2023, 12, 31, 22, tzinfo=UTC)
    assert parse_local("2024-07-01T00:00:00", HELSINKI) == datetime(2024, 6, 30, 21, tzinfo=UTC)
    assert parse_local("2024-07-01T00:00:00Z", HELSINKI) == datetime(2024, 7, 1, tzinfo=UTC)
