"""End to end: the settlement window through the real `meltano run` on the shipped meltano.yml,
the WattiVahti simulator and a real InfluxDB 1.x: a hole filled and a value corrected between two
runs end with InfluxDB equal to WattiVahti, and the README's incomplete-days query finds the days
that were incomplete."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from tests.readme import README
from tests.simulator import SEED_METERING_POINT, local_midnight_utc
from tests.test_e2e import assert_ok, expected, stored, window

UTC = timezone.utc
QUARTER = timedelta(minutes=15)
FIRST, STOP = date(2025, 6, 5), date(2025, 6, 13)


def incomplete_days_query() -> str:
    """The README's InfluxQL query that lists incomplete days."""
    text = README.read_text(encoding="utf-8")
    [query] = [line for line in text.splitlines()
               if line.startswith("SELECT") and "electricity_daily" in line]  # fmt: skip
    return query


def daily(influx, database) -> dict[str, dict]:
    """The stored electricity_daily points of the seed point's consumption, by local date."""
    points = influx.points(database, "electricity_daily")
    assert {(p["metering_point"], p["kind"]) for p in points} == {
        (SEED_METERING_POINT, "consumption")
    }
    return {p["date"]: p for p in points}


def test_a_hole_filled_and_a_value_corrected_between_two_runs_end_equal_to_wattivahti(
    meltano, simulator, influxdb1, influx_database
):
    start, stop = local_midnight_utc(FIRST), local_midnight_utc(STOP)
    simulator.available_until = stop
    hole = datetime(2025, 6, 10, 5, tzinfo=UTC)  # 08:00 local, null
    left_out = {datetime(2025, 6, 11, 10, tzinfo=UTC) + QUARTER * i for i in range(8)}  # absent
    simulator.missing = {hole}
    simulator.absent = set(left_out)
    env = window(FIRST, STOP)
    first = meltano.run_pipeline(env=env)
    assert_ok(first)
    assert stored(influxdb1, influx_database) == expected(simulator, start, stop)
    assert "2025-06-10 08:00\u201308:15 (1 quarter hour)" in first.output
    assert "2025-06-11 13:00\u201315:00 (8 quarter hours)" in first.output
    [series] = influxdb1.query(incomplete_days_query(), influx_database)
    rows = [dict(zip(series["columns"], values, strict=True)) for values in series["values"]]
    assert [(r["date"], r["missing_periods"], r["expected_periods"]) for r in rows] == [
        ("2025-06-10", 1, 96),
        ("2025-06-11", 8, 96),
    ]
    assert series["tags"] == {"metering_point": SEED_METERING_POINT, "kind": "consumption"}

    # Between the runs the operator fills both holes and corrects a value five days back.
    simulator.missing, simulator.absent = set(), set()
    simulator.corrections = {datetime(2025, 6, 7, 7, tzinfo=UTC): 987}
    simulator.clear_log()
    due = {**env, "TAP_WATTIVAHTI_CORRECTION_INTERVAL_HOURS": "0"}
    assert_ok(meltano.run_pipeline(env=due))
    assert len(simulator.requests("meterdata")) == 1
    points = stored(influxdb1, influx_database)
    assert points == expected(simulator, start, stop)
    assert points[datetime(2025, 6, 7, 7, tzinfo=UTC)][2] == 987.0
    assert hole in points
    assert left_out <= set(points)
    assert influxdb1.query(incomplete_days_query(), influx_database) == []
    days = daily(influxdb1, influx_database)
    assert sorted(days) == [f"2025-06-{d:02d}" for d in range(5, 13)]
    for text, point in days.items():
        day = date.fromisoformat(text)
        truth = simulator.truth_kwh(
            SEED_METERING_POINT, local_midnight_utc(day), local_midnight_utc(day + timedelta(1))
        )
        assert point["kwh"] == pytest.approx(truth, abs=1e-9)
        assert (point["complete"], point["periods"], point["missing_periods"]) == (True, 96, 0)
        assert point["time"] == int(local_midnight_utc(day).timestamp())
