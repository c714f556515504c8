"""End to end: spot prices through the real `meltano run tap-wattivahti target-influxdb` on the
shipped meltano.yml, from the Elering simulator into a real InfluxDB 1.x (`electricity_price`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tests.meltano_project import STATE_ID
from tests.readme import influxql_queries
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
    readme_queries_give_the_sources_prices(elering, influxdb1, influx_database)

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


def readme_queries_give_the_sources_prices(elering, influxdb1, influx_database) -> None:
    """The README's InfluxQL price queries (written for 2025-10-25 and the fall DST day)."""
    both_days, cheapest, hourly = [q for q in influxql_queries() if "electricity_price" in q]
    fall_day = local_midnight_utc(date(2025, 10, 26)), local_midnight_utc(date(2025, 10, 27))
    [series] = influxdb1.query(both_days, influx_database)
    truth = elering.truth("FI", local_midnight_utc(date(2025, 10, 25)), fall_day[1])
    assert len(series["values"]) == 96 + 100
    assert {datetime.fromtimestamp(t, UTC): v for t, v in series["values"]} == pytest.approx(
        {at: float(p.eur_mwh) / 10 for at, p in truth.items()}
    )
    day = elering.truth("FI", *fall_day)
    [series] = influxdb1.query(cheapest, influx_database)
    lowest = sorted(float(p.eur_mwh) for p in day.values())[:3]
    assert sorted(v for _, v in series["values"]) == lowest
    [series] = influxdb1.query(hourly, influx_database)
    assert len(series["values"]) == 25
    for epoch, cents in series["values"]:
        hour = datetime.fromtimestamp(epoch, UTC)
        quarters = [day[hour + timedelta(minutes=15 * i)].eur_mwh for i in range(4)]
        assert cents == pytest.approx(float(sum(quarters, Decimal(0)) / 4) / 10)
