"""What the target holds ends equal to WattiVahti: values WattiVahti withdraws, and the periods a
resolution change leaves behind, become deletion records (``_sdc_deleted_at``), against the
simulator over HTTP. Records are applied as a store with point identity applies them (InfluxDB:
measurement + tags + time; a deletion record removes the point it names)."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from singer_sdk.sinks.core import JSONSchemaValidator

from tests.simulator import SEED_METERING_POINT, MeteringPoint, Simulator, local_midnight_utc

UTC = timezone.utc
QUARTER = timedelta(minutes=15)
HOUR = timedelta(hours=1)
FIRST, STOP = date(2025, 6, 5), date(2025, 6, 13)
START_UTC, STOP_UTC = local_midnight_utc(FIRST), local_midnight_utc(STOP)
DUE = {"correction_interval_hours": 0}


class Store:
    """Points by instant, as a target with point identity keeps one stream's records."""

    def __init__(self, kind: str = "consumption") -> None:
        self.kind = kind
        self.points: dict[datetime, tuple[str, int]] = {}

    def apply(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            instant = datetime.fromisoformat(record["timestamp"])
            if record.get("_sdc_deleted_at") is not None:
                self.points.pop(instant, None)
            else:
                self.points[instant] = (record["resolution"], int(record[f"{self.kind}_wh"]))

    def wh(self) -> int:
        return sum(wh for _, wh in self.points.values())


def hourly_truth(sim: Simulator, start: datetime, stop: datetime) -> dict[datetime, tuple]:
    """What a correct PT1H client stores: each hour whose four quarter hours all have a value."""
    quarters = sim.truth(SEED_METERING_POINT, start, stop)
    hours: dict[datetime, tuple[str, int]] = {}
    for instant in quarters:
        hour = instant.replace(minute=0)
        parts = [quarters.get(hour + QUARTER * i) for i in range(4)]
        if all(part is not None for part in parts):
            hours[hour] = ("PT1H", sum(part for part in parts if part is not None))
    return hours


def deletions(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("_sdc_deleted_at") is not None]


def conform(run: Any, stream: str = "consumption") -> None:
    """Every record of ``run`` passes the validation a singer-sdk target (target-influxdb
    among them) gives it against the stream's SCHEMA message, formats included."""
    [schema] = {json.dumps(m["schema"]) for m in run.messages
                if m["type"] == "SCHEMA" and m["stream"] == stream}  # fmt: skip
    validator = JSONSchemaValidator(json.loads(schema), validate_formats=True)
    for record in run.records(stream):
        validator.validate(record)


def partition_of(state: dict[str, Any], stream: str) -> dict[str, Any]:
    [found] = state["bookmarks"][stream]["partitions"]
    return found


def never_both_resolutions(points: dict[datetime, tuple[str, int]]) -> None:
    for instant, (resolution, _) in points.items():
        if resolution == "PT1H":
            inside = [i for i in points if instant < i < instant + HOUR]
            assert inside == [], f"quarter hours beside the hourly point at {instant}"


@pytest.fixture
def window(simulator):
    simulator.available_until = STOP_UTC
    return {"start_date": FIRST.isoformat(), "end_date": STOP.isoformat()}


# ------------------------------------------------------------------ values WattiVahti withdraws
@pytest.mark.parametrize("how", ["null", "absent"])
def test_a_value_withdrawn_by_wattivahti_is_deleted_downstream(
    tap_config, run_tap, simulator, window, how, caplog
):
    store = Store()
    first = run_tap(tap_config(**window))
    store.apply(first.records())
    assert store.points == simulator.expected_points(SEED_METERING_POINT, START_UTC, STOP_UTC)

    gone = {datetime(2025, 6, 9, 7, tzinfo=UTC) + QUARTER * i for i in range(3)}  # 10:00 local
    if how == "null":
        simulator.missing = set(gone)
    else:
        simulator.absent = set(gone)
    with caplog.at_level(logging.INFO):
        second = run_tap(tap_config(**window, **DUE), state=first.state)
    [deleted_at] = {r["_sdc_deleted_at"] for r in deletions(second.records())}
    assert datetime.fromisoformat(deleted_at).tzinfo is not None
    assert deletions(second.records()) == [
        {
            "metering_point": SEED_METERING_POINT,
            "timestamp": instant.isoformat(),
            "resolution": None,
            "consumption_kwh": None,
            "consumption_wh": None,
            "_sdc_deleted_at": deleted_at,
        }
        for instant in sorted(gone)
    ]
    conform(second)
    store.apply(second.records())
    assert store.points == simulator.expected_points(SEED_METERING_POINT, START_UTC, STOP_UTC)
    assert gone.isdisjoint(store.points)
    day = local_midnight_utc(date(2025, 6, 9))
    [total] = second.records("daily_totals")
    assert (total["date"], total["periods"], total["missing_periods"]) == ("2025-06-09", 93, 3)
    assert total["kwh"] == pytest.approx(
        simulator.truth_kwh(SEED_METERING_POINT, day, day + timedelta(days=1)), abs=1e-9
    )
    assert any(
        "3 consumption period(s) that may hold a value from an earlier run have none" in message
        and message.endswith("2025-06-09 (3).")
        for message in caplog.messages
    )
    # The bookmark ends at the newest value, and a later due run sends nothing again.
    assert second.bookmark(SEED_METERING_POINT) == (STOP_UTC - QUARTER).isoformat()
    third = run_tap(tap_config(**window, **DUE), state=second.state)
    assert third.records() == third.records("daily_totals") == []


def test_null_then_a_value_then_null_again_leaves_nothing_downstream(
    tap_config, run_tap, simulator, window
):
    hole = datetime(2025, 6, 10, 12, tzinfo=UTC)
    simulator.missing = {hole}
    store = Store()
    state = None
    for step in ("null", "555 Wh", "null"):
        if step == "555 Wh":
            simulator.missing, simulator.corrections = set(), {hole: 555}
        elif state is not None:
            simulator.missing, simulator.corrections = {hole}, {}
        run = run_tap(tap_config(**window, **DUE), state=state)
        state = run.state
        store.apply(run.records())
        assert store.points == simulator.expected_points(
            SEED_METERING_POINT, START_UTC, STOP_UTC
        ), step
        assert (store.points.get(hole) is not None) is (step == "555 Wh")


def test_a_withdrawn_newest_value_is_deleted_and_the_bookmark_ends_at_the_newest_left(
    tap_config, run_tap, simulator, window
):
    store = Store()
    first = run_tap(tap_config(**window))
    store.apply(first.records())
    newest = STOP_UTC - QUARTER
    assert first.bookmark(SEED_METERING_POINT) == newest.isoformat()
    simulator.available_until = newest - QUARTER  # the operator takes the last two back
    second = run_tap(tap_config(**window), state=first.state)  # not due: the lookback day
    assert [r["timestamp"] for r in deletions(second.records())] == [
        (newest - QUARTER).isoformat(),
        newest.isoformat(),
    ]
    assert second.records()[-1]["timestamp"] == (newest - 2 * QUARTER).isoformat()
    assert second.bookmark(SEED_METERING_POINT) == (newest - 2 * QUARTER).isoformat()
    store.apply(second.records())
    assert store.points == simulator.expected_points(SEED_METERING_POINT, START_UTC, STOP_UTC)


def test_a_day_whose_values_were_all_withdrawn_gets_its_daily_total_again(
    tap_config, run_tap, simulator, window
):
    first = run_tap(tap_config(**window))
    last_day = local_midnight_utc(STOP - timedelta(days=1))
    assert first.records("daily_totals")[-1]["periods"] == 96
    simulator.available_until = last_day  # the whole last day withdrawn
    second = run_tap(tap_config(**window), state=first.state)
    assert len(deletions(second.records())) == 96
    [total] = second.records("daily_totals")
    assert (total["date"], total["periods"], total["missing_periods"], total["kwh"]) == (
        "2025-06-12",
        0,
        96,
        0.0,
    )


# ------------------------------------------------------------------ a change of resolution
@pytest.mark.parametrize("earlier_version", [False, True], ids=["marks", "marks-of-v1"])
def test_switching_resolution_both_ways_with_the_re_read_leaves_exactly_the_truth(
    tap_config, run_tap, simulator, window, earlier_version
):
    store = Store()
    first = run_tap(tap_config(**window))  # auto: 15-minute values
    store.apply(first.records())
    state = first.state
    if earlier_version:  # day marks as earlier versions wrote them: no stored slots
        for partition in state["bookmarks"]["consumption"]["partitions"]:
            partition["days"] = {day: mark[:2] for day, mark in partition["days"].items()}
    truth_wh = sum(simulator.truth(SEED_METERING_POINT, START_UTC, STOP_UTC).values())

    hourly = run_tap(tap_config(**window, **DUE, resolution="PT1H"), state=state)
    store.apply(hourly.records())
    window_start = local_midnight_utc(STOP - timedelta(days=8))  # correction_days 7
    quarter_part = simulator.expected_points(SEED_METERING_POINT, START_UTC, window_start)
    assert store.points == quarter_part | hourly_truth(simulator, window_start, STOP_UTC)
    assert store.wh() == truth_wh
    never_both_resolutions(store.points)

    back = run_tap(tap_config(**window, **DUE), state=hourly.state)  # auto again
    store.apply(back.records())
    assert store.points == simulator.expected_points(SEED_METERING_POINT, START_UTC, STOP_UTC)
    assert store.wh() == truth_wh


def test_switching_to_hourly_without_the_re_read_never_stores_both_for_a_period(
    tap_config, run_tap, simulator, window
):
    store = Store()
    first = run_tap(tap_config(**window))
    store.apply(first.records())
    second = run_tap(tap_config(**window, resolution="PT1H"), state=first.state)
    store.apply(second.records())
    last_day = local_midnight_utc(STOP - timedelta(days=1))  # the lookback day, now hourly
    assert {r for r, _ in (store.points[i] for i in store.points if i >= last_day)} == {"PT1H"}
    never_both_resolutions(store.points)
    assert store.wh() == sum(simulator.truth(SEED_METERING_POINT, START_UTC, STOP_UTC).values())


def test_an_hour_stored_hourly_whose_00_quarter_hour_is_absent_later_is_deleted(
    tap_config, run_tap
):
    point = MeteringPoint("7654321", switch_date=date(2020, 1, 1))
    with Simulator([point]) as sim:
        sim.available_until = STOP_UTC
        config = tap_config(sim, start_date=FIRST.isoformat(), end_date=STOP.isoformat())
        store = Store()
        first = run_tap({**config, "resolution": "PT1H"})
        store.apply(first.records())
        hour = datetime(2025, 6, 10, 9, tzinfo=UTC)
        sim.absent = {hour}  # its :00 quarter hour goes missing; :15, :30, :45 stay
        second = run_tap({**config, **DUE}, state=first.state)  # auto: 15-minute values
        store.apply(second.records())
        assert hour not in store.points
        assert store.points == sim.expected_points(point.code, START_UTC, STOP_UTC)


def test_the_state_of_a_metering_point_stays_within_1_5_kb_with_the_default_window(
    tap_config, run_tap
):
    """Default settings, a meter that switched to 15-minute values in the history (the switch
    marks in the state), a hole, and a run ending at noon, then the next hour's run."""
    point = MeteringPoint("7654321", switch_date=date(2025, 5, 20))
    with Simulator([point]) as sim:
        sim.missing = {datetime(2025, 6, 10, 9, tzinfo=UTC)}
        sim.available_until = datetime(2025, 6, 12, 9, tzinfo=UTC)
        config = tap_config(sim, start_date="2025-05-10", end_date="2025-06-12T12:00:00")
        first = run_tap(config)
        sim.available_until = datetime(2025, 6, 12, 10, tzinfo=UTC)
        again = run_tap({**config, "end_date": "2025-06-12T13:00:00"}, state=first.state)
    meter, daily = (
        partition_of(again.state, "consumption"),
        partition_of(again.state, "daily_totals"),
    )
    assert {"quarters_from", "hours_until", "settled_at"} <= set(meter)
    assert len(meter["days"]) == 8
    assert len(json.dumps(meter)) + len(json.dumps(daily)) <= 1536
