"""A state the tap cannot trust or read, against the simulator over HTTP: instants in the future
(a clock that was ahead, a hand edit) are a WARNING and the run behaves as if it were now; a
state the SDK cannot read is one paragraph naming where and the `meltano state` commands that
repair it; long lists in messages are capped."""

from __future__ import annotations

import copy
import json
import logging
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.simulator import SEED_METERING_POINT, MeteringPoint, Simulator, local_midnight_utc

UTC = timezone.utc
QUARTER = timedelta(minutes=15)
FIRST, STOP = date(2025, 6, 5), date(2025, 6, 13)
START_UTC, STOP_UTC = local_midnight_utc(FIRST), local_midnight_utc(STOP)
NEWEST = STOP_UTC - QUARTER
LATER = (datetime.now(UTC) + timedelta(days=90)).replace(microsecond=0)
PARTITION = f"Metering point {SEED_METERING_POINT}, stream consumption"
REPAIR_COMMANDS = ("meltano state get", "meltano state edit", "meltano state clear")


def partition(state: dict[str, Any], stream: str = "consumption") -> dict[str, Any]:
    [found] = state["bookmarks"][stream]["partitions"]
    return found


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def requested(sim: Simulator) -> list[tuple[str, str, str]]:
    return [(r.params["start"], r.params["stop"], r.params["resultStep"])
            for r in sim.requests("meterdata")]  # fmt: skip


@pytest.fixture
def window(simulator):
    simulator.available_until = STOP_UTC
    return {"start_date": FIRST.isoformat(), "end_date": STOP.isoformat()}


# ------------------------------------------------------------------ instants in the future
@pytest.mark.parametrize("interval", [24, 0])
def test_a_settled_at_in_the_future_warns_and_the_re_read_is_due(
    tap_config, run_tap, simulator, window, caplog, interval
):
    config = tap_config(**window, correction_interval_hours=interval)
    first = run_tap(config)
    state = copy.deepcopy(first.state)
    partition(state)["settled_at"] = LATER.isoformat()
    corrected = datetime(2025, 6, 7, 10, tzinfo=UTC)
    simulator.corrections = {corrected: 4321}
    simulator.clear_log()
    with caplog.at_level(logging.INFO):
        run = run_tap(config, state=state)
    [warning] = warnings(caplog)
    assert warning.startswith(f"{PARTITION}: in its state, settled_at {LATER.isoformat()} lies in")
    assert "this run re-reads the settlement window" in warning
    assert "check the machine's clock" in warning
    assert "meltano state get" in warning
    assert requested(simulator) == [
        ("2025-06-05T00:00:00+03:00", "2025-06-13T00:00:00+03:00", "PT15MIN")
    ]
    values = {r["timestamp"]: r["consumption_wh"] for r in run.records()}
    assert values[corrected.isoformat()] == 4321.0
    settled = datetime.fromisoformat(partition(run.state)["settled_at"])
    assert settled <= datetime.now(UTC)


def test_a_bookmark_in_the_future_warns_and_the_run_loads_the_window(
    tap_config, run_tap, simulator, window, caplog
):
    first = run_tap(tap_config(**window))
    state = copy.deepcopy(first.state)
    partition(state)["replication_key_value"] = LATER.isoformat()
    partition(state).pop("days")  # e.g. a state set by hand: no day marks
    simulator.clear_log()
    with caplog.at_level(logging.INFO):
        run = run_tap(tap_config(**window), state=state)
    [warning] = warnings(caplog)  # and no "left the settlement window"
    assert warning.startswith(f"{PARTITION}: the bookmark {LATER.isoformat()} lies in the future")
    assert "load them with a bounded backfill" in warning
    assert "meltano state get" in warning
    assert requested(simulator) == [
        ("2025-06-05T00:00:00+03:00", "2025-06-13T00:00:00+03:00", "PT15MIN")
    ]
    expected = simulator.expected_points(SEED_METERING_POINT, START_UTC, STOP_UTC)
    records = [r for r in run.records() if r.get("_sdc_deleted_at") is None]
    assert {datetime.fromisoformat(r["timestamp"]) for r in records} == set(expected)
    assert run.bookmark(SEED_METERING_POINT) == NEWEST.isoformat()
    assert sorted(partition(run.state)["days"]) == [f"2025-06-{d:02d}" for d in range(5, 13)]


def test_a_bookmark_in_the_future_over_unchanged_days_is_brought_back(
    tap_config, run_tap, simulator, window, caplog
):
    first = run_tap(tap_config(**window))
    state = copy.deepcopy(first.state)
    partition(state)["replication_key_value"] = LATER.isoformat()  # the day marks stay
    with caplog.at_level(logging.INFO):
        run = run_tap(tap_config(**window), state=state)
    assert [w for w in warnings(caplog) if "lies in the future" in w]
    assert [r["timestamp"] for r in run.records()] == [NEWEST.isoformat()]  # only to rewind
    assert run.bookmark(SEED_METERING_POINT) == NEWEST.isoformat()


def test_switch_marks_in_the_future_warn_and_15_minute_values_stay_15_minute(
    tap_config, run_tap, caplog
):
    point = MeteringPoint("7654321", switch_date=date(2025, 1, 1))
    with Simulator([point]) as sim:
        sim.available_until = STOP_UTC
        config = tap_config(sim, start_date=FIRST.isoformat(), end_date=STOP.isoformat())
        first = run_tap(config)
        state = copy.deepcopy(first.state)
        future = {key: LATER.isoformat() for key in ("hours_until", "hourly_until")}
        partition(state).update(future, quarters_from=LATER.isoformat())
        with caplog.at_level(logging.INFO):
            run = run_tap({**config, "correction_interval_hours": 0}, state=state)
        expected = sim.expected_points(point.code, START_UTC, STOP_UTC)
    [warning] = warnings(caplog)
    for key in ("quarters_from", "hourly_until", "hours_until"):
        assert f"{key} {LATER.isoformat()} lies in the future, so this run asks again" in warning
    assert {r["resolution"] for r in run.records()} <= {"PT15MIN"}
    stored = {datetime.fromisoformat(r["timestamp"]): r for r in first.records()}
    stored |= {datetime.fromisoformat(r["timestamp"]): r for r in run.records()}
    assert {i: (r["resolution"], int(r["consumption_wh"])) for i, r in stored.items()} == expected
    assert "hours_until" not in partition(run.state)


def test_state_keys_that_do_not_parse_are_dropped_with_a_warning(
    tap_config, run_tap, simulator, window, caplog
):
    first = run_tap(tap_config(**window))
    state = copy.deepcopy(first.state)
    partition(state)["settled_at"] = "yesterday"
    partition(state)["days"]["2025-06-10"] = "abc"
    with caplog.at_level(logging.INFO):
        run = run_tap(tap_config(**window), state=state)
    [warning] = warnings(caplog)
    assert warning.startswith(
        f'{PARTITION}: in its state, 1 entry is not a day mark in days (["2025'
    )
    assert 'settled_at "yesterday" is not an ISO 8601 date-time with an offset, so this run ' in (
        warning
    )
    day = [r["timestamp"] for r in run.records()][:-1]  # the newest value comes last again
    assert day == [(local_midnight_utc(date(2025, 6, 10)) + QUARTER * i).isoformat()
                   for i in range(96)]  # fmt: skip
    assert run.bookmark(SEED_METERING_POINT) == NEWEST.isoformat()
    assert partition(run.state)["days"]["2025-06-10"][0] != "abc"


# ------------------------------------------------------------------ a state the SDK cannot read
GOOD = {"context": {"metering_point": SEED_METERING_POINT}, "replication_key": "timestamp"}


def bookmarked(value: object) -> dict[str, Any]:
    return {
        "bookmarks": {"consumption": {"partitions": [{**GOOD, "replication_key_value": value}]}}
    }


@pytest.mark.parametrize(
    ("state", "where"),
    [
        pytest.param(
            bookmarked("yesterday"),
            'the partition {"metering_point": "1234567"} of stream consumption has the bookmark '
            '(replication_key_value) "yesterday", not a date-time',
            id="bookmark",
        ),
        pytest.param(
            bookmarked(5),
            'the partition {"metering_point": "1234567"} of stream consumption has the bookmark '
            "(replication_key_value) 5, not a date-time",
            id="bookmark-number",
        ),
        pytest.param(
            {"bookmarks": []}, '"bookmarks" is [], not an object of streams', id="bookmarks-list"
        ),
        pytest.param(
            {"bookmarks": {"consumption": []}},
            "the state of stream consumption is [], not an object",
            id="stream-list",
        ),
        pytest.param(
            {"bookmarks": {"consumption": {"partitions": {}}}},
            '"partitions" of stream consumption is {}, not a list',
            id="partitions-object",
        ),
        pytest.param(
            {"bookmarks": {"daily_totals": {"partitions": [{"days": {}}]}}},
            'partition 1 of stream daily_totals is {"days": {}}, not an object with a context '
            "object",
            id="no-context",
        ),
        pytest.param(
            {"bookmarks": {"consumption": {"partitions": [GOOD, GOOD]}}},
            'the partition {"metering_point": "1234567"} of stream consumption is there twice',
            id="twice",
        ),
        pytest.param([1, 2], "the state is [1, 2], not a JSON object", id="list"),
    ],
)
def test_a_state_the_sdk_cannot_read_is_one_paragraph_naming_where_and_the_repair(
    tap_config, run_cli, state, where
):
    run = run_cli(tap_config(start_date="2025-06-10", end_date="2025-06-11"), state=state)
    paragraph = run.error_paragraph()
    assert paragraph.startswith(f"tap-wattivahti: error: The tap cannot read its state: {where}.")
    for command in REPAIR_COMMANDS:
        assert command in paragraph
    assert "prod:tap-wattivahti-to-target-influxdb" in paragraph
    assert run.records() == []


def test_a_state_file_that_is_not_json_is_one_paragraph(tap_config, run_cli, tmp_path):
    state_file = tmp_path / "state.json"
    state_file.write_text('{"bookmarks": {', encoding="utf-8")
    config = tap_config(start_date="2025-06-10", end_date="2025-06-11")
    paragraph = run_cli(config, "--state", str(state_file)).error_paragraph()
    assert paragraph.startswith(
        "tap-wattivahti: error: The tap cannot read its state: the --state file is not JSON ("
    )
    assert "meltano state edit" in paragraph


# ------------------------------------------------------------------ long lists are capped
def test_a_40000_day_map_is_named_with_12_days_and_how_many_more(
    tap_config, run_tap, simulator, window, caplog
):
    first = run_tap(tap_config(**window))
    state = copy.deepcopy(first.state)
    days = [date(1900, 1, 1) + timedelta(days=i) for i in range(40_000)]
    partition(state)["days"] |= {day.isoformat(): ["0123456789abcdef", 1] for day in days}
    with caplog.at_level(logging.INFO):
        run = run_tap(tap_config(**window), state=state)
    [left] = [w for w in warnings(caplog) if "left the settlement window" in w]
    named = ", ".join(f"{day} (1 missing)" for day in days[:12])
    assert f"consumption of {named} \u2026 and 39,988 more left the settlement window" in left
    assert len(left) < 1000
    assert len(json.dumps(partition(run.state)["days"])) < 1000  # the old marks are gone
