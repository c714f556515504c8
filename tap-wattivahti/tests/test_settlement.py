"""The settlement window against the simulator over HTTP: late fills and corrections reach the
output, unchanged days are not emitted again, missing periods are named, the resolution switch is
remembered (one request per incremental run), and state of the earlier versions keeps working."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from tap_wattivahti.settlement import DayMark, Value, fingerprint, values_to_emit
from tap_wattivahti.state import MeterState

from tests.simulator import SEED_METERING_POINT, MeteringPoint, Simulator, local_midnight_utc

UTC = timezone.utc
QUARTER = timedelta(minutes=15)
DASH = "\u2013"


def stamps(records):
    return [datetime.fromisoformat(r["timestamp"]) for r in records]


def day_of(instant: datetime) -> list[datetime]:
    """The 96 quarter hours of the (ordinary) local day that starts at ``instant``."""
    return [instant + QUARTER * i for i in range(96)]


def requested(sim: Simulator) -> list[tuple[str, str, str]]:
    return [(r.params["start"], r.params["stop"], r.params["resultStep"])
            for r in sim.requests("meterdata")]  # fmt: skip


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# ---------------------------------------------------------------------------------- unit tests
def value(minute: int, quantity: str | None, resolution: str = "PT15MIN") -> Value:
    instant = datetime(2025, 6, 10, 0, minute, tzinfo=UTC)
    return Value(instant, None if quantity is None else Decimal(quantity), resolution)


def test_fingerprints_see_values_and_steps_but_not_how_a_number_is_written():
    day = [value(0, "0.100"), value(15, "0")]
    assert fingerprint(day) == fingerprint([value(0, "0.1"), value(15, "0.000")])
    assert fingerprint(day) != fingerprint([value(0, "0.101"), value(15, "0")])
    assert fingerprint(day) != fingerprint([value(0, "0.100", "PT1H"), value(15, "0")])
    assert fingerprint(day) != fingerprint(day[:1])
    assert len(fingerprint(day)) == 16


def test_a_day_is_emitted_whole_only_when_what_was_emitted_changed():
    emitted = [value(0, "1"), value(15, "2")]
    bookmark = emitted[-1].instant
    mark = DayMark(fingerprint(emitted), 0)
    now = [*emitted, value(30, "3")]
    assert values_to_emit(now, bookmark, mark) == ([now[-1]], False)
    corrected = [value(0, "1.5"), value(15, "2"), value(30, "3")]
    assert values_to_emit(corrected, bookmark, mark) == (corrected, True)
    assert values_to_emit(now, bookmark, None) == (now, True)  # state of an earlier version
    assert values_to_emit(now, None, None) == (now, False)  # no bookmark: all is new


def test_memory_ignores_what_it_cannot_read_and_forgets_old_days():
    state = {"days": {"2025-06-01": ["abc", 2], "junk": 1, "2025-06-05": ["def", 0]},
             "settled_at": "not a time"}  # fmt: skip
    memory = MeterState(state)
    assert memory.marks() == {
        date(2025, 6, 1): DayMark("abc", 2),
        date(2025, 6, 5): DayMark("def", 0),
    }
    assert memory.settled_at is None
    assert memory.forget_before(date(2025, 6, 2)) == {date(2025, 6, 1): DayMark("abc", 2)}
    assert state["days"] == {"junk": 1, "2025-06-05": ["def", 0]}


# ----------------------------------------------------------------- runs against the simulator
def test_a_value_corrected_five_days_back_is_emitted_by_the_next_due_re_read_only(
    tap_config, run_tap, simulator
):
    simulator.available_until = local_midnight_utc(date(2025, 6, 13))
    config = tap_config(start_date="2025-06-05", end_date="2025-06-13")
    first = run_tap(config)
    assert len(first.records()) == 8 * 96
    assert len(first.records("daily_totals")) == 8
    newest = stamps(first.records())[-1]

    corrected_day = local_midnight_utc(date(2025, 6, 7))  # 5 days before the bookmark's day
    corrected = corrected_day + timedelta(hours=10)
    simulator.corrections = {corrected: 1234}
    # Not due yet (the first run covered the window a moment ago): nothing is emitted.
    second = run_tap(config, state=first.state)
    assert second.records() == []
    assert second.records("daily_totals") == []

    simulator.clear_log()
    due = {**config, "correction_interval_hours": 0}
    third = run_tap(due, state=second.state)
    assert requested(simulator) == [
        ("2025-06-05T00:00:00+03:00", "2025-06-13T00:00:00+03:00", "PT15MIN")
    ]
    records = third.records()
    assert stamps(records) == [*day_of(corrected_day), newest]  # the changed day, whole
    assert {r["timestamp"]: r["consumption_wh"] for r in records}[corrected.isoformat()] == 1234.0
    assert third.bookmark(SEED_METERING_POINT) == newest.isoformat()
    [total] = third.records("daily_totals")
    truth = simulator.truth(SEED_METERING_POINT, corrected_day, corrected_day + timedelta(days=1))
    assert total["date"] == "2025-06-07"
    assert total["kwh"] == pytest.approx(sum(truth.values()) / 1000, abs=1e-9)
    assert total["complete"] is True

    # Due again, nothing changed: no day is emitted twice.
    fourth = run_tap(due, state=third.state)
    assert fourth.records() == []
    assert fourth.records("daily_totals") == []
    partition = fourth.state["bookmarks"]["consumption"]["partitions"][0]
    assert sorted(partition["days"]) == [f"2025-06-{d:02d}" for d in range(5, 13)]


def test_absent_periods_are_named_in_one_warning_and_the_day_is_incomplete(
    tap_config, run_tap, simulator, caplog
):
    start = datetime(2025, 10, 20, 10, tzinfo=UTC)  # 13:00 local
    simulator.absent = {start + QUARTER * i for i in range(8)}
    simulator.available_until = local_midnight_utc(date(2025, 10, 22))
    with caplog.at_level(logging.INFO):
        run = run_tap(tap_config(start_date="2025-10-20", end_date="2025-10-22"))
    assert len(run.records()) == 2 * 96 - 8
    [warning] = warnings(caplog)  # the API's sum agrees, so the sum check is silent
    assert warning.startswith("Metering point 1234567: 8 consumption period(s) before the newest")
    assert f"2025-10-20 13:00{DASH}15:00 (8 quarter hours)" in warning
    incomplete, complete = run.records("daily_totals")
    day = local_midnight_utc(date(2025, 10, 20))
    truth = simulator.truth(SEED_METERING_POINT, day, day + timedelta(days=1))
    assert incomplete == {
        "metering_point": SEED_METERING_POINT,
        "kind": "consumption",
        "date": "2025-10-20",
        "day_start": day.isoformat(),
        "resolution": "PT15MIN",
        "expected_periods": 96,
        "periods": 88,
        "missing_periods": 8,
        "kwh": pytest.approx(sum(truth.values()) / 1000, abs=1e-9),
        "complete": False,
    }
    assert complete["complete"] is True
    assert complete["periods"] == 96


@pytest.mark.parametrize(
    ("point", "first", "stop", "expected"),
    [
        pytest.param(  # the seed point has 15-minute values since 2023
            MeteringPoint(SEED_METERING_POINT),
            date(2025, 3, 29),
            date(2025, 3, 31),
            {"2025-03-29": ("PT15MIN", 96), "2025-03-30": ("PT15MIN", 92)},
            id="spring-15min",
        ),
        pytest.param(
            MeteringPoint(SEED_METERING_POINT),
            date(2025, 10, 26),
            date(2025, 10, 28),
            {"2025-10-26": ("PT15MIN", 100), "2025-10-27": ("PT15MIN", 96)},
            id="fall-15min",
        ),
        pytest.param(
            MeteringPoint("7654321", switch_date=date(2030, 1, 1)),
            date(2025, 3, 30),
            date(2025, 3, 31),
            {"2025-03-30": ("PT1H", 23)},
            id="spring-hourly",
        ),
        pytest.param(
            MeteringPoint("7654321", switch_date=date(2030, 1, 1)),
            date(2025, 10, 25),
            date(2025, 10, 27),
            {"2025-10-25": ("PT1H", 24), "2025-10-26": ("PT1H", 25)},
            id="fall-hourly",
        ),
        pytest.param(  # 15-minute values from 10:15 local
            MeteringPoint("7654321", switch_at=datetime(2024, 5, 15, 7, 15, tzinfo=UTC)),
            date(2024, 5, 14),
            date(2024, 5, 17),
            {
                "2024-05-14": ("PT1H", 24),
                "2024-05-15": ("PT1H+PT15MIN", 10 + 55),
                "2024-05-16": ("PT15MIN", 96),
            },
            id="switch-day",
        ),
    ],
)
def test_daily_totals_are_exact_on_dst_hourly_and_switch_days(
    tap_config, run_tap, point, first, stop, expected
):
    with Simulator([point]) as sim:
        run = run_tap(tap_config(sim, start_date=first.isoformat(), end_date=stop.isoformat()))
        totals = {r["date"]: r for r in run.records("daily_totals")}
        assert set(totals) == set(expected)
        for day, (resolution, periods) in expected.items():
            begin = local_midnight_utc(date.fromisoformat(day))
            end = local_midnight_utc(date.fromisoformat(day) + timedelta(days=1))
            stored = sim.expected_points(point.code, begin, end)
            total = totals[day]
            assert total["day_start"] == begin.isoformat()
            assert total["resolution"] == resolution
            assert total["expected_periods"] == periods
            assert total["periods"] == periods == len(stored)
            assert (total["missing_periods"], total["complete"]) == (0, True)
            assert total["kwh"] == pytest.approx(sum(wh for _, wh in stored.values()) / 1000)
    if point.code == SEED_METERING_POINT and first == date(2025, 10, 26):
        assert totals["2025-10-26"]["kwh"] == pytest.approx(24.510, abs=1e-9)  # the bill


def test_an_incremental_run_costs_one_request_for_a_15_minute_meter(tap_config, run_tap, simulator):
    config = tap_config(start_date="2025-06-05", end_date="2025-06-13")
    simulator.available_until = datetime(2025, 6, 12, 9, tzinfo=UTC)
    first = run_tap(config)
    simulator.available_until = datetime(2025, 6, 12, 10, tzinfo=UTC)  # an hour later
    simulator.clear_log()
    second = run_tap(config, state=first.state)
    [(start, _, step)] = requested(simulator)
    assert (start, step) == ("2025-06-12T00:00:00+03:00", "PT15MIN")
    assert stamps(second.records()) == [datetime(2025, 6, 12, 9, tzinfo=UTC) + QUARTER * i
                                        for i in range(4)]  # fmt: skip
    # A due re-read is one request too: the window and the new hour together.
    simulator.clear_log()
    run_tap({**config, "correction_interval_hours": 0}, state=first.state)
    [(start, _, step)] = requested(simulator)
    assert (start, step) == ("2025-06-05T00:00:00+03:00", "PT15MIN")


def test_a_due_re_read_across_a_month_boundary_costs_two_requests(tap_config, run_tap, simulator):
    simulator.available_until = datetime(2025, 6, 3, 9, tzinfo=UTC)
    first = run_tap(tap_config(start_date="2025-05-25", end_date="2025-06-04"))
    simulator.clear_log()
    config = tap_config(start_date="2025-05-25", end_date="2025-06-04", correction_interval_hours=0)
    run_tap(config, state=first.state)
    assert requested(simulator) == [
        ("2025-05-27T00:00:00+03:00", "2025-06-01T00:00:00+03:00", "PT15MIN"),
        ("2025-06-01T00:00:00+03:00", "2025-06-04T00:00:00+03:00", "PT15MIN"),
    ]


def test_an_hourly_meter_costs_one_request_and_one_probe_per_local_day(tap_config, run_tap):
    """A meter with hourly values only until 2025-06-12; each run ends where ``end_date`` says."""
    point = MeteringPoint("7654321", switch_date=date(2025, 6, 12))
    with Simulator([point]) as sim:
        state = None
        stored = {}

        def run(end: str) -> list[tuple[str, str, str]]:
            nonlocal state
            sim.clear_log()
            done = run_tap(tap_config(sim, start_date="2025-06-08", end_date=end), state=state)
            state = done.state
            for record in done.records():  # as InfluxDB keeps them: one point per instant
                stored[datetime.fromisoformat(record["timestamp"])] = (
                    record["resolution"],
                    int(record["consumption_wh"]),
                )
            return requested(sim)

        # The first run probes: no 15-minute values, so hourly ones.
        assert [s for *_, s in run("2025-06-10T12:00:00")] == ["PT15MIN", "PT1H"]
        # Later the same local day: what the probe found holds, one request.
        assert [s for *_, s in run("2025-06-10T18:00:00")] == ["PT1H"]
        # The next local day: one probe again, then one request per run.
        assert [s for *_, s in run("2025-06-11T06:00:00")] == ["PT15MIN", "PT1H"]
        assert [s for *_, s in run("2025-06-11T20:00:00")] == ["PT1H"]
        # The meter switched at midnight: the day's probe finds it, hourly before.
        assert run("2025-06-12T10:00:00") == [
            ("2025-06-11T00:00:00+03:00", "2025-06-12T10:00:00+03:00", "PT15MIN"),
            ("2025-06-11T00:00:00+03:00", "2025-06-12T00:00:00+03:00", "PT1H"),
        ]
        # From then on 15-minute values are known: one request.
        assert [s for *_, s in run("2025-06-12T20:00:00")] == ["PT15MIN"]
        assert state is not None
        partition = state["bookmarks"]["consumption"]["partitions"][0]
        assert partition["quarters_from"] == local_midnight_utc(date(2025, 6, 12)).isoformat()
        start, stop = local_midnight_utc(date(2025, 6, 8)), datetime(2025, 6, 12, 17, tzinfo=UTC)
        assert stored == sim.expected_points("7654321", start, stop)
        assert len(stored) == 4 * 24 + 20 * 4


def test_state_of_an_earlier_version_re_reads_the_window_once(tap_config, run_tap, simulator):
    simulator.available_until = local_midnight_utc(date(2025, 6, 14))
    old = {
        "bookmarks": {
            "consumption": {
                "partitions": [
                    {
                        "context": {"metering_point": SEED_METERING_POINT},
                        "replication_key": "timestamp",
                        "replication_key_value": "2025-06-12T20:45:00+00:00",
                    }
                ]
            }
        }
    }
    config = tap_config(end_date="2025-06-14")
    first = run_tap(config, state=old)
    assert requested(simulator) == [
        ("2025-06-05T00:00:00+03:00", "2025-06-14T00:00:00+03:00", "PT15MIN")
    ]
    records = first.records()
    assert stamps(records) == [local_midnight_utc(date(2025, 6, 5)) + QUARTER * i
                               for i in range(9 * 96)]  # fmt: skip
    assert len(first.records("daily_totals")) == 9
    partition = first.state["bookmarks"]["consumption"]["partitions"][0]
    assert partition["replication_key_value"] == "2025-06-13T20:45:00+00:00"
    # Marks for the days a later run may fetch again: the window of the new bookmark.
    assert sorted(partition["days"]) == [f"2025-06-{d:02d}" for d in range(6, 14)]
    assert "settled_at" in partition

    simulator.clear_log()
    second = run_tap(config, state=first.state)
    assert requested(simulator) == [
        ("2025-06-13T00:00:00+03:00", "2025-06-14T00:00:00+03:00", "PT15MIN")
    ]
    assert second.records() == []


def test_a_day_leaving_the_window_with_missing_periods_is_named(
    tap_config, run_tap, simulator, caplog
):
    simulator.missing = {datetime(2025, 6, 3, 9, tzinfo=UTC)}
    simulator.available_until = local_midnight_utc(date(2025, 6, 10))
    with caplog.at_level(logging.INFO):
        run = run_tap(tap_config(start_date="2025-06-03", end_date="2025-06-10", correction_days=2))
    left = [w for w in warnings(caplog) if "left the settlement window" in w]
    assert left == [
        "Metering point 1234567: consumption of 2025-06-03 (1 missing) left the settlement "
        "window (correction_days = 2) with periods still missing and will not be asked again. "
        "If WattiVahti fills them later, load those days with a bounded backfill (README: "
        "Missing data)."
    ]
    partition = run.state["bookmarks"]["consumption"]["partitions"][0]
    assert sorted(partition["days"]) == ["2025-06-07", "2025-06-08", "2025-06-09"]
    daily = run.state["bookmarks"]["daily_totals"]["partitions"][0]
    assert sorted(daily["days"]) == ["2025-06-07", "2025-06-08", "2025-06-09"]


def test_daily_totals_lost_between_streams_come_with_the_next_due_re_read(
    tap_config, run_tap, simulator
):
    simulator.available_until = local_midnight_utc(date(2025, 6, 13))
    config = tap_config(start_date="2025-06-09", end_date="2025-06-13")
    first = run_tap(config)
    # As if the run had stopped after the meter stream: daily_totals' state never came.
    state = {"bookmarks": {"consumption": first.state["bookmarks"]["consumption"]}}
    second = run_tap({**config, "correction_interval_hours": 0}, state=state)
    assert second.records() == []
    assert [r["date"] for r in second.records("daily_totals")] == [
        "2025-06-09", "2025-06-10", "2025-06-11", "2025-06-12",
    ]  # fmt: skip
    assert second.records("daily_totals") == first.records("daily_totals")


def test_daily_totals_older_than_the_window_survive_a_run_stopped_between_the_streams(
    tap_config, run_tap, simulator
):
    simulator.available_until = local_midnight_utc(date(2025, 6, 25))
    config = tap_config(start_date="2025-06-05", end_date="2025-06-25")  # 20 days, window 7
    first = run_tap(config)
    assert len(first.records("daily_totals")) == 20
    # The run stops after the meter stream's last STATE (a failure, a signal, the target gone):
    # that STATE is what the orchestrator keeps.
    first_total = next(i for i, m in enumerate(first.messages) if m.get("stream") == "daily_totals")
    stopped = [m["value"] for m in first.messages[:first_total] if m["type"] == "STATE"][-1]
    [meter] = stopped["bookmarks"]["consumption"]["partitions"]
    assert meter["totals_from"] == "2025-06-04T21:00:00+00:00"
    assert "daily_totals" not in stopped["bookmarks"]

    simulator.clear_log()
    second = run_tap(config, state=stopped)
    assert requested(simulator) == [
        ("2025-06-05T00:00:00+03:00", "2025-06-25T00:00:00+03:00", "PT15MIN")
    ]
    assert second.records() == []  # every day was emitted already: the marks say so
    assert second.records("daily_totals") == first.records("daily_totals")
    [meter] = second.state["bookmarks"]["consumption"]["partitions"]
    assert "totals_from" not in meter
    assert sorted(meter["days"]) == [f"2025-06-{d:02d}" for d in range(17, 25)]

    simulator.clear_log()
    third = run_tap(config, state=second.state)
    assert requested(simulator) == [
        ("2025-06-24T00:00:00+03:00", "2025-06-25T00:00:00+03:00", "PT15MIN")
    ]
    assert third.records() == third.records("daily_totals") == []


def test_unplaceable_values_make_one_warning_per_answer_not_one_per_value(
    tap_config, run_tap, simulator, caplog
):
    simulator.edit_values = lambda values: (
        values + [{"time": f"2025-06-10T25:{i:02d}:00", "quantity": 0.1} for i in range(200)]
    )
    with caplog.at_level(logging.INFO):
        run = run_tap(tap_config(start_date="2025-06-10", end_date="2025-06-11"))
    assert len(run.records()) == 96
    [placed] = warnings(caplog)  # the API's sum does not count them: no sum warning
    assert placed.startswith(
        "Metering point 1234567: 200 value(s) of the consumption PT15MIN answer"
    )
    assert placed.endswith("is not an ISO 8601 time; and 195 more.")
    assert placed.count("is not an ISO 8601 time") == 5


def test_daily_totals_without_a_selected_meter_stream_emits_nothing(
    tap_config, run_tap, catalog_selecting
):
    config = tap_config(start_date="2025-06-10", end_date="2025-06-11")
    run = run_tap(config, catalog=catalog_selecting(config, "daily_totals"))
    assert [m for m in run.messages if m["type"] == "RECORD"] == []


def test_days_after_the_newest_value_and_a_meter_producing_nothing_get_no_total(
    tap_config, run_tap, simulator, catalog_selecting
):
    simulator.available_until = datetime(2025, 6, 11, 9, tzinfo=UTC)  # 12:00 local
    config = tap_config(start_date="2025-06-09", end_date="2025-06-14")
    # production too: the point has none
    catalog = catalog_selecting(config, "consumption", "production", "daily_totals")
    run = run_tap(config, catalog=catalog)
    assert run.records("production") == []
    totals = run.records("daily_totals")
    assert [(t["kind"], t["date"], t["missing_periods"]) for t in totals] == [
        ("consumption", "2025-06-09", 0),
        ("consumption", "2025-06-10", 0),
        ("consumption", "2025-06-11", 48),  # the day of the newest value, until it fills
    ]
