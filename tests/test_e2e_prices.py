"""End to end: spot prices through the real `meltano run tap-wattivahti target-influxdb` on the
shipped meltano.yml, from the Elering simulator into a real InfluxDB 1.x (`electricity_price`)."""

from __future__ import annotations

from datetime import date, datetime, timezone

from tests.meltano_project import STATE_ID
from tests.simulator import local_midnight_utc
from tests.test_e2e import assert_ok, window

UTC = timezone.utc


def test_a_month_of_prices_lands_in_electricity_price_as_the_source_has_them(
    meltano, simulator, elering, influxdb1, influx_database
):
    # October 2025: the first quarter-hour market days and the 25-hour DST day.
    start, stop = local_midnight_utc(date(2025, 10, 1)), local_midnight_utc(date(2025, 11, 1))
    simulator.available_until = stop
    hole = datetime(2025, 10, 28, 10, 15, tzinfo=UTC)  # inside the settlement window
    elering.missing = {hole}
    result = meltano.run_pipeline(env=window(date(2025, 10, 1), date(2025, 11, 1)))
    assert_ok(result)
    assert "1 past period(s) have no price at the source: 2025-10-28 12:15" in result.output

    points = influxdb1.points(influx_database, "electricity_price")
    stored = {
        datetime.fromtimestamp(p["time"], UTC): (p["resolution"], p["price_eur_mwh"])
        for p in points
    }
    truth = elering.truth("FI", start, stop)
    assert stored == {at: (p.resolution, float(p.eur_mwh)) for at, p in truth.items()}
    # 1 October: its first (hourly) Finnish hour and 92 quarter hours; the 26th has 100; one hole.
    assert len(stored) == 1 + 92 + 29 * 96 + 100 - 1
    assert {(p["area"], p["source"]) for p in points} == {("FI", "elering")}
    assert influxdb1.field_types(influx_database, "electricity_price") == {
        "price_eur_mwh": "float",
        "resolution": "string",
        "source": "string",
    }
    assert len(elering.requests()) == 1  # a month is one request

    # The hole is filled at the source: the next run asks it again and stores it.
    elering.missing.clear()
    elering.clear_log()
    assert_ok(meltano.run_pipeline(env=window(date(2025, 10, 1), date(2025, 11, 1))))
    [again] = elering.requests()
    assert again.params["start"] == "2025-10-28T10:15:00.000Z"
    points = influxdb1.points(influx_database, "electricity_price")
    assert len(points) == len(truth) + 1
    partitions = meltano.state(STATE_ID)["singer_state"]["bookmarks"]["spot_prices"]["partitions"]
    assert partitions == [
        {
            "context": {"area": "FI"},
            "replication_key": "timestamp",
            "replication_key_value": "2025-10-31T21:45:00+00:00",
        }
    ]
