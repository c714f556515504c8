"""Unit tests of the pure time module: naive local times → UTC instants, request windows, the
grid of a local day, and missing spans named in local time."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from tap_wattivahti.timeutil import (
    HOUR,
    QUARTER,
    Period,
    candidate_instants,
    collapse,
    day_grid,
    describe_span,
    local_days,
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


ALL_QUARTERS = datetime(2000, 1, 1, tzinfo=UTC)  # 15-minute values long before any day below
HOURLY = None


@pytest.mark.parametrize(
    ("day", "quarters_from", "hours", "quarters"),
    [
        (date(2025, 6, 10), ALL_QUARTERS, 0, 96),
        (date(2025, 3, 30), ALL_QUARTERS, 0, 92),  # spring forward: 23 hours
        (date(2025, 10, 26), ALL_QUARTERS, 0, 100),  # fall back: 25 hours
        (date(2025, 6, 10), HOURLY, 24, 0),
        (date(2025, 3, 30), HOURLY, 23, 0),
        (date(2025, 10, 26), HOURLY, 25, 0),
        # the switch at local midnight: the day is all quarter hours
        (date(2024, 5, 15), datetime(2024, 5, 14, 21, tzinfo=UTC), 0, 96),
        # the switch at 10:15 local: hours ending by 10:00, quarter hours from 10:15
        (date(2024, 5, 15), datetime(2024, 5, 15, 7, 15, tzinfo=UTC), 10, 55),
        # the switch later than the day: hourly all day
        (date(2024, 5, 15), datetime(2024, 5, 16, 12, tzinfo=UTC), 24, 0),
        # the switch at 12:00 on the fall day: 13 hours (03 twice), then 48 quarter hours
        (date(2025, 10, 26), datetime(2025, 10, 26, 10, tzinfo=UTC), 13, 48),
        # the switch at 10:07 rounds up to the next quarter hour, 10:15
        (date(2024, 5, 15), datetime(2024, 5, 15, 7, 7, tzinfo=UTC), 10, 55),
    ],
)
def test_day_grid_has_the_periods_a_local_day_must_have(day, quarters_from, hours, quarters):
    grid = day_grid(day, HELSINKI, quarters_from)
    assert sum(1 for p in grid if p.length == HOUR) == hours
    assert sum(1 for p in grid if p.length == QUARTER) == quarters
    assert grid[0].start == local_midnight(day, HELSINKI)
    hourly = [p for p in grid if p.length == HOUR]
    assert grid[: len(hourly)] == hourly  # hours first, then quarter hours
    assert all(a.stop <= b.start for a, b in pairwise(grid))  # in order, no overlap
    assert grid[-1].stop == local_midnight(day + timedelta(days=1), HELSINKI)
    assert all(p.start.minute % 15 == 0 for p in grid)


def test_local_days_of_a_range():
    start = local_midnight(date(2025, 10, 25), HELSINKI) + timedelta(hours=23)
    stop = local_midnight(date(2025, 10, 27), HELSINKI)
    assert local_days(start, stop, HELSINKI) == [date(2025, 10, 25), date(2025, 10, 26)]
    assert local_days(stop, stop, HELSINKI) == []


def spans(*ranges: tuple[datetime, int, timedelta]) -> list[Period]:
    return [Period(start + length * i, length) for start, count, length in ranges
            for i in range(count)]  # fmt: skip


@pytest.mark.parametrize(
    ("periods", "described"),
    [
        (
            spans((datetime(2025, 10, 20, 10, tzinfo=UTC), 8, QUARTER)),
            ["2025-10-20 13:00\u201315:00 (8 quarter hours)"],
        ),
        (
            spans((datetime(2025, 6, 10, 20, tzinfo=UTC), 1, HOUR)),
            ["2025-06-10 23:00\u20132025-06-11 00:00 (1 hour)"],
        ),
        (  # two spans; the first crosses local midnight
            spans(
                (datetime(2025, 6, 10, 20, 30, tzinfo=UTC), 4, QUARTER),
                (datetime(2025, 6, 11, 9, tzinfo=UTC), 1, QUARTER),
            ),
            [
                "2025-06-10 23:30\u20132025-06-11 00:30 (4 quarter hours)",
                "2025-06-11 12:00\u201312:15 (1 quarter hour)",
            ],
        ),
        (  # the fall's repeated hour: the offset tells the occurrences apart
            spans((datetime(2025, 10, 26, 1, 15, tzinfo=UTC), 2, QUARTER)),
            ["2025-10-26 03:15+02:00\u201303:45+02:00 (2 quarter hours)"],
        ),
        (  # a switch day: hours, then quarter hours, in one span
            spans(
                (datetime(2024, 5, 15, 5, tzinfo=UTC), 2, HOUR),
                (datetime(2024, 5, 15, 7, tzinfo=UTC), 3, QUARTER),
            ),
            ["2024-05-15 08:00\u201310:45 (2 hours and 3 quarter hours)"],
        ),
    ],
)
def test_missing_periods_collapse_into_local_spans(periods, described):
    assert [describe_span(span, HELSINKI) for span in collapse(periods)] == described


# The hourly labels of a real 2023 spring-day answer a public client keeps as a fixture: a value
# at the non-existent 03:00 and none at 06:00.
SHIFTED_SPRING_2023 = [0, 1, 2, 3, 4, 5, *range(7, 24)]
SPRING_2023_START = datetime(2023, 3, 25, 22, tzinfo=UTC)  # 2023-03-26 00:00 local
SPRING_2023_STOP = datetime(2023, 3, 26, 21, tzinfo=UTC)  # 2023-03-27 00:00 local


def spring_answer(hours: list[int]) -> list[tuple[str, Decimal]]:
    return [(f"2023-03-26T{hour:02d}:00:00", q(str(hour))) for hour in hours]


def test_a_spring_day_with_shifted_labels_and_a_full_count_is_placed_by_position():
    sent = spring_answer(SHIFTED_SPRING_2023)
    placement = place_values(sent, HELSINKI, SPRING_2023_START, SPRING_2023_STOP, HOUR)
    assert placement.rejected == []
    assert [r.instant for r in placement.readings] == [
        SPRING_2023_START + HOUR * i for i in range(23)
    ]
    assert [r.quantity for r in placement.readings] == [quantity for _, quantity in sent]
    [labels] = placement.spring_days
    assert (labels.day, labels.by_position, labels.shifted) == (
        date(2023, 3, 26), True, (("03:00", "04:00"), ("05:00", "06:00")),
    )  # fmt: skip


def test_a_spring_day_labelled_as_the_clock_is_placed_by_label_and_noted():
    sent = spring_answer([0, 1, 2, *range(4, 24)])
    placement = place_values(sent, HELSINKI, SPRING_2023_START, SPRING_2023_STOP, HOUR)
    assert [r.instant for r in placement.readings] == [
        SPRING_2023_START + HOUR * i for i in range(23)
    ]
    [labels] = placement.spring_days
    assert (labels.by_position, labels.shifted) == (False, None)


@pytest.mark.parametrize(
    ("hours", "start"),
    [
        pytest.param([h for h in SHIFTED_SPRING_2023 if h != 12], SPRING_2023_START, id="count"),
        pytest.param(SHIFTED_SPRING_2023, SPRING_2023_START + HOUR, id="window-cuts-the-day"),
    ],
)
def test_shifted_labels_are_placed_by_label_unless_the_count_matches_a_whole_day(hours, start):
    placement = place_values(spring_answer(hours), HELSINKI, start, SPRING_2023_STOP, HOUR)
    assert placement.spring_days == []
    gap = "lies in the spring-forward gap, a local time that does not exist"
    assert ("2023-03-26T03:00:00", gap) in {(r.time, r.reason) for r in placement.rejected}
    by_instant = {r.instant: r.quantity for r in placement.readings}
    assert by_instant[datetime(2023, 3, 26, 1, tzinfo=UTC)] == q("4")  # 04:00 by its label
