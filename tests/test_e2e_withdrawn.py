"""End to end: what WattiVahti withdraws, and what a change of `resolution` leaves behind, leave
a real InfluxDB 1.x through the real `meltano run` on the shipped meltano.yml (the tap's deletion
records, target-influxdb's deletes): InfluxDB ends equal to WattiVahti, and the dashboard's
per-day consumption panel agrees with `electricity_daily`."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from tests.grafana import TimeRange, interpolate
from tests.simulator import HELSINKI, SEED_METERING_POINT, Simulator, local_midnight_utc
from tests.test_dashboards import panel
from tests.test_e2e import assert_ok, expected, stored, window
from tests.test_e2e_settlement import daily

UTC = timezone.utc
QUARTER = timedelta(minutes=15)
HOUR = timedelta(hours=1)
FIRST, STOP = date(2025, 6, 5), date(2025, 6, 13)
DAYS = (STOP - FIRST).days


def hourly(sim: Simulator, start: datetime, stop: datetime) -> dict[datetime, tuple]:
    """What InfluxDB holds when every hour was taken hourly: hours whose quarters all exist."""
    quarters = sim.truth(SEED_METERING_POINT, start, stop)
    hours = {}
    for instant in quarters:
        hour = instant.replace(minute=0)
        parts = [quarters.get(hour + QUARTER * i) for i in range(4)]
        if all(part is not None for part in parts):
            wh = sum(part for part in parts if part is not None)
            hours[hour] = ("PT1H", wh / 1000, float(wh))
    return hours


def panel_days(influx, database) -> dict[str, float]:
    """Local date → kWh, as the InfluxQL dashboard's "Per day, Finnish time" panel shows it."""
    shown = panel("Per day, Finnish time (kWh)")
    [target] = [t for t in shown["targets"] if t.get("alias") == "Consumption"]
    query = interpolate(
        target["query"],
        shown,
        TimeRange.days(FIRST, DAYS),
        {"metering_point": [SEED_METERING_POINT]},
    )
    [series] = influx.query(query, database)
    return {
        datetime.fromtimestamp(t, UTC).astimezone(HELSINKI).date().isoformat(): kwh
        for t, kwh in series["values"]
    }


def assert_panel_agrees_with_daily_totals(influx, database) -> None:
    days = daily(influx, database)
    assert sorted(days) == [(FIRST + timedelta(n)).isoformat() for n in range(DAYS)]
    assert panel_days(influx, database) == pytest.approx(
        {name: point["kwh"] for name, point in days.items()}, abs=1e-9
    )


def test_withdrawn_values_and_a_resolution_switch_leave_influxdb_equal_to_wattivahti(
    meltano, simulator, influxdb1, influx_database
):
    start, stop = local_midnight_utc(FIRST), local_midnight_utc(STOP)
    simulator.available_until = stop
    env = window(FIRST, STOP)
    due = {**env, "TAP_WATTIVAHTI_CORRECTION_INTERVAL_HOURS": "0"}
    assert_ok(meltano.run_pipeline(env=env))
    assert stored(influxdb1, influx_database) == expected(simulator, start, stop)

    # WattiVahti withdraws an hour's values (null now) and leaves two quarter hours out.
    nulled = {datetime(2025, 6, 9, 7, tzinfo=UTC) + QUARTER * i for i in range(4)}
    left_out = {datetime(2025, 6, 11, 12, tzinfo=UTC), datetime(2025, 6, 11, 12, 15, tzinfo=UTC)}
    simulator.missing, simulator.absent = set(nulled), set(left_out)
    assert_ok(meltano.run_pipeline(env=due))
    points = stored(influxdb1, influx_database)
    assert points == expected(simulator, start, stop)
    assert (nulled | left_out).isdisjoint(points)
    assert_panel_agrees_with_daily_totals(influxdb1, influx_database)
    assert daily(influxdb1, influx_database)["2025-06-09"]["missing_periods"] == 4

    # The user switches to hourly values; the due re-read emits the window again, hourly.
    assert_ok(meltano.run_pipeline(env={**due, "TAP_WATTIVAHTI_RESOLUTION": "PT1H"}))
    points = stored(influxdb1, influx_database)
    assert points == hourly(simulator, start, stop)
    assert sum(wh for _, _, wh in points.values()) == pytest.approx(
        sum(wh for _, _, wh in hourly(simulator, start, stop).values())
    )
    assert_panel_agrees_with_daily_totals(influxdb1, influx_database)

    # And back to auto: 15-minute values again, nothing hourly left beside them.
    simulator.missing, simulator.absent = set(), set()
    assert_ok(meltano.run_pipeline(env=due))
    points = stored(influxdb1, influx_database)
    assert points == expected(simulator, start, stop)
    assert sum(wh for _, _, wh in points.values()) == sum(
        simulator.truth(SEED_METERING_POINT, start, stop).values()
    )
    assert_panel_agrees_with_daily_totals(influxdb1, influx_database)
