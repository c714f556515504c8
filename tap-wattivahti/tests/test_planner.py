"""The resolution planner alone: which requests cover each window, for meters whose 15-minute
values begin at a known instant (answers in, next request out; no HTTP)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from tap_wattivahti.resolution import Ask, Cover, Planner, Switch
from tap_wattivahti.timeutil import plan_windows

ZONE = ZoneInfo("Europe/Helsinki")
UTC = timezone.utc
NEVER = None  # a meter without 15-minute values


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A local wall-clock time in Helsinki as a UTC instant."""
    return datetime(year, month, day, hour, minute, tzinfo=ZONE).astimezone(UTC)


def text(instant: datetime) -> str:
    """A local date (at midnight) or date and time, as the table writes them."""
    wall = instant.astimezone(ZONE)
    return wall.date().isoformat() if wall.hour == wall.minute == 0 else wall.strftime("%FT%H:%M")


def said(ask: Ask) -> str:
    return f"{ask.resolution} {text(ask.start)}..{text(ask.stop)}"


def first_value(ask: Ask, meter_switch: datetime | None) -> datetime | None:
    """Where the answer to ``ask`` begins for a meter with 15-minute values from
    ``meter_switch`` (hourly values always exist)."""
    if ask.resolution == "PT1H":
        return ask.start
    if meter_switch is None or meter_switch >= ask.stop:
        return None
    return max(ask.start, meter_switch)


def drive(planner: Planner, meter_switch: datetime | None) -> tuple[list[str], list[Cover]]:
    """Cover every window, answering as the meter would: the requests and the covers."""
    asks: list[str] = []
    covers: list[Cover] = []
    for index in range(len(planner.windows)):
        plan = planner.window(index)
        while plan.ask is not None:
            asks.append(said(plan.ask))
            plan.answer(first_value(plan.ask, meter_switch))
        covers.append(plan.cover)
    return asks, covers


def months(first: str, last: str, resolution: str) -> list[str]:
    """Requests at ``resolution`` for the months ``first`` to ``last`` (YYYY-MM), one each."""
    day = date.fromisoformat(first + "-01")
    end = date.fromisoformat(last + "-01")
    windows = []
    while day <= end:
        after = date(day.year + day.month // 12, day.month % 12 + 1, 1)
        windows.append(f"{resolution} {day}..{after}")
        day = after
    return windows


@dataclass
class Case:
    setting: str
    start: datetime
    stop: datetime
    meter_switch: datetime | None
    asks: list[str]
    #: where each window's grid turns quarter-hourly (None: hourly throughout)
    quarters_from: list[datetime | None]
    #: what the run learned: (quarters_from, hourly_until)
    learned: tuple[datetime | None, datetime | None]
    known: Switch = field(default_factory=Switch)


CASES = {
    "15-minute meter, nothing known: one request per window": Case(
        "auto", local(2024, 1, 1), local(2024, 4, 1), local(2023, 1, 1),
        asks=months("2024-01", "2024-03", "PT15MIN"),
        quarters_from=[local(2024, 1, 1), local(2024, 2, 1), local(2024, 3, 1)],
        learned=(local(2024, 1, 1), None),
    ),
    "15-minute meter, switch known": Case(
        "auto", local(2024, 1, 1), local(2024, 4, 1), local(2023, 1, 1),
        known=Switch(quarters_from=local(2023, 1, 1)),
        asks=months("2024-01", "2024-03", "PT15MIN"),
        quarters_from=[local(2024, 1, 1), local(2024, 2, 1), local(2024, 3, 1)],
        learned=(local(2023, 1, 1), None),
    ),
    "hourly-only meter, nothing known: probes the later windows once": Case(
        "auto", local(2024, 1, 1), local(2024, 7, 1), NEVER,
        asks=[
            "PT15MIN 2024-01-01..2024-02-01",
            "PT15MIN 2024-04-30..2024-05-01",  # probe: the last day of window 3 of 0..5
            "PT15MIN 2024-06-30..2024-07-01",  # probe: window 5
            *months("2024-01", "2024-06", "PT1H"),
        ],
        quarters_from=[None] * 6,
        learned=(None, local(2024, 7, 1)),
    ),
    "hourly-only meter, switch known (no 15-minute values before the end)": Case(
        "auto", local(2024, 1, 1), local(2024, 7, 1), NEVER,
        known=Switch(hourly_until=local(2024, 7, 1)),
        asks=months("2024-01", "2024-06", "PT1H"),
        quarters_from=[None] * 6,
        learned=(None, local(2024, 7, 1)),
    ),
    "switch inside a window: hourly up to it, then 15-minute values": Case(
        "auto", local(2024, 5, 1), local(2024, 6, 1), local(2024, 5, 15),
        asks=["PT15MIN 2024-05-01..2024-06-01", "PT1H 2024-05-01..2024-05-15"],
        quarters_from=[local(2024, 5, 15)],
        learned=(local(2024, 5, 15), None),
    ),
    "switch off midnight inside a window": Case(
        "auto", local(2024, 5, 15), local(2024, 5, 16), local(2024, 5, 15, 10, 15),
        asks=["PT15MIN 2024-05-15..2024-05-16", "PT1H 2024-05-15..2024-05-15T10:15"],
        quarters_from=[local(2024, 5, 15, 10, 15)],
        learned=(local(2024, 5, 15, 10, 15), None),
    ),
    "15-minute values from within the window's first hour: 15-minute only": Case(
        "auto", local(2024, 5, 1), local(2024, 6, 1), local(2024, 5, 1, 0, 30),
        asks=["PT15MIN 2024-05-01..2024-06-01"],
        quarters_from=[local(2024, 5, 1)],
        learned=(local(2024, 5, 1, 0, 30), None),
    ),
    "probing over many windows: a binary search, then one request per window": Case(
        "auto", local(2021, 1, 1), local(2024, 1, 1), local(2023, 1, 1),
        asks=[
            "PT15MIN 2021-01-01..2021-02-01",  # nothing: hourly; search windows 1..35
            "PT15MIN 2022-07-31..2022-08-01",  # window 18: none
            "PT15MIN 2023-04-30..2023-05-01",  # window 27: some
            "PT15MIN 2022-12-31..2023-01-01",  # window 23: none
            "PT15MIN 2023-02-28..2023-03-01",  # window 25: some
            "PT15MIN 2023-01-31..2023-02-01",  # window 24: some, the first
            *months("2021-01", "2022-12", "PT1H"),
            *months("2023-01", "2023-12", "PT15MIN"),
        ],
        quarters_from=[None] * 24 + [local(2023, month, 1) for month in range(1, 13)],
        learned=(local(2023, 1, 1), local(2023, 1, 1)),
    ),
    "a probe earlier on the run's last day holds until its end": Case(
        "auto", local(2025, 6, 12), local(2025, 6, 12, 14), NEVER,
        known=Switch.recalled(None, local(2025, 6, 12, 10), None, local(2025, 6, 12, 14), ZONE),
        asks=["PT1H 2025-06-12..2025-06-12T14:00"],
        quarters_from=[None],
        learned=(None, local(2025, 6, 12, 14)),
    ),
    "a probe on an earlier day does not: the new day is asked again": Case(
        "auto", local(2025, 6, 12), local(2025, 6, 12, 14), NEVER,
        known=Switch.recalled(None, local(2025, 6, 11, 23), None, local(2025, 6, 12, 14), ZONE),
        asks=["PT15MIN 2025-06-12..2025-06-12T14:00", "PT1H 2025-06-12..2025-06-12T14:00"],
        quarters_from=[None],
        learned=(None, local(2025, 6, 12, 14)),
    ),
    "quarter hours that show up for hours taken hourly: those hours stay hourly": Case(
        "auto", local(2025, 6, 8), local(2025, 6, 12), local(2025, 6, 10, 0, 15),
        known=Switch(quarters_from=local(2025, 6, 10, 2), hours_until=local(2025, 6, 10, 2)),
        asks=["PT15MIN 2025-06-08..2025-06-12", "PT1H 2025-06-08..2025-06-10T02:00"],
        quarters_from=[local(2025, 6, 10, 2)],
        learned=(local(2025, 6, 10, 0, 15), None),
    ),
    "a quarter hour filled where no hour was taken: the quarter hours begin there": Case(
        "auto", local(2025, 6, 8), local(2025, 6, 12), local(2025, 6, 10),
        known=Switch(quarters_from=local(2025, 6, 10, 0, 15), hours_until=local(2025, 6, 10)),
        asks=["PT15MIN 2025-06-08..2025-06-12", "PT1H 2025-06-08..2025-06-10"],
        quarters_from=[local(2025, 6, 10)],
        learned=(local(2025, 6, 10), None),
    ),
    "a day taken hourly before its quarter hours were published stays hourly": Case(
        "auto", local(2025, 6, 12), local(2025, 6, 13, 10), local(2023, 1, 1),
        known=Switch(hourly_until=local(2025, 6, 12, 10), hours_until=local(2025, 6, 12, 10)),
        asks=["PT15MIN 2025-06-12..2025-06-13T10:00", "PT1H 2025-06-12..2025-06-12T10:00"],
        quarters_from=[local(2025, 6, 12, 10)],
        learned=(local(2025, 6, 12), local(2025, 6, 12, 10)),
    ),
    "forced PT1H on a 15-minute meter": Case(
        "PT1H", local(2024, 5, 14), local(2024, 5, 16), local(2024, 5, 15),
        asks=["PT1H 2024-05-14..2024-05-16"],
        quarters_from=[None],
        learned=(None, None),
    ),
    "forced PT15MIN, also before the switch": Case(
        "PT15MIN", local(2024, 5, 14), local(2024, 7, 1), local(2024, 5, 15),
        asks=["PT15MIN 2024-05-14..2024-06-01", "PT15MIN 2024-06-01..2024-07-01"],
        quarters_from=[local(2024, 5, 14), local(2024, 6, 1)],
        learned=(None, None),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_planner_asks_for_what_covers_each_window(case: Case):
    windows = plan_windows(case.start, case.stop, ZONE, 31)
    planner = Planner(case.setting, windows, case.known)
    asks, covers = drive(planner, case.meter_switch)
    assert asks == case.asks
    assert [cover.quarters_from for cover in covers] == case.quarters_from
    assert (planner.switch.quarters_from, planner.switch.hourly_until) == case.learned


def test_a_window_with_the_switch_keeps_only_hours_that_end_by_it():
    switch = local(2024, 5, 15, 10, 15)
    planner = Planner("auto", plan_windows(local(2024, 5, 15), local(2024, 5, 16), ZONE, 31))
    [cover] = drive(planner, switch)[1]
    hourly, quarters = cover.parts
    assert (hourly.ask.resolution, hourly.keep_before) == ("PT1H", switch)
    assert (quarters.ask.resolution, quarters.keep_before) == ("PT15MIN", None)
    assert cover.switch_at == switch
    assert not cover.probed


def test_quarter_hours_in_hours_taken_hourly_are_not_kept():
    taken = Switch(quarters_from=local(2025, 6, 10, 2), hours_until=local(2025, 6, 10, 2))
    planner = Planner("auto", plan_windows(local(2025, 6, 8), local(2025, 6, 12), ZONE, 31), taken)
    [cover] = drive(planner, local(2025, 6, 10, 0, 15))[1]
    hourly, quarters = cover.parts
    assert (hourly.keep_before, hourly.keep_from) == (local(2025, 6, 10, 2), None)
    assert (quarters.keep_before, quarters.keep_from) == (None, local(2025, 6, 10, 2))


def test_the_answers_decide_the_next_request():
    planner = Planner("auto", plan_windows(local(2024, 1, 1), local(2024, 3, 1), ZONE, 31))
    plan = planner.window(0)
    assert plan.ask == Ask("PT15MIN", local(2024, 1, 1), local(2024, 2, 1))
    probe = plan.answer(None)  # no 15-minute values in January: probe February's last day
    assert probe == Ask("PT15MIN", local(2024, 2, 29), local(2024, 3, 1))
    assert plan.answer(local(2024, 2, 29)) == Ask("PT1H", local(2024, 1, 1), local(2024, 2, 1))
    assert plan.answer(local(2024, 1, 1)) is None
    assert plan.cover.probed
    with pytest.raises(RuntimeError, match="not covered yet"):
        _ = planner.window(1).cover
    assert planner.switch == Switch(local(2024, 2, 29), local(2024, 2, 1))
