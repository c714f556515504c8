"""End to end: spot prices, and the costs and monthly bills of the README's example terms, through
the real `meltano run tap-wattivahti target-influxdb` on the shipped meltano.yml, from the
WattiVahti and Elering simulators into a real InfluxDB 1.x (`electricity_price`,
`electricity_cost`, `electricity_bill`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tests.bills import (
    Terms,
    as_read,
    expected_bill,
    expected_costs,
    per_day,
    quarter_price,
    terms_environment,
)
from tests.meltano_project import STATE_ID
from tests.readme import influxql_queries
from tests.simulator import HELSINKI, SEED_METERING_POINT, local_midnight_utc
from tests.test_e2e import assert_ok, window

UTC = timezone.utc


OCTOBER = date(2025, 10, 1)


def test_a_month_of_prices_costs_and_its_bill_land_as_the_sources_have_them(
    meltano, simulator, elering, influxdb1, influx_database
):
    # October 2025: the first quarter-hour market days and the 25-hour DST day, with the terms
    # of the README's "Check your bill" (a spot contract and a general network tariff).
    start, stop = local_midnight_utc(OCTOBER), local_midnight_utc(date(2025, 11, 1))
    simulator.available_until = stop
    hole = datetime(2025, 10, 28, 10, 15, tzinfo=UTC)  # inside the settlement window
    elering.missing = {hole}
    env = {**window(OCTOBER, date(2025, 11, 1)), **terms_environment()}
    result = meltano.run_pipeline(env=env)
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
    # The period without a price is costed without euros; the month is not complete.
    costs = influxdb1.points(influx_database, "electricity_cost")
    assert len(costs) == 2980
    [unpriced] = [p for p in costs if not p["priced"]]
    assert datetime.fromtimestamp(unpriced["time"], UTC) == hole
    assert [k for k in unpriced if k.endswith("_eur") and unpriced[k] is not None] == []
    assert readme_queries_give_the_bill(simulator, elering, influxdb1, influx_database) == [hole]

    # The hole is filled at the source: the next run asks it again and stores it, and costs it.
    elering.missing.clear()
    elering.clear_log()
    assert_ok(meltano.run_pipeline(env=env))
    [again] = elering.requests()
    # From the local midnight of the hole's day: costs prices that day again (and spot_prices
    # asks from the hole), in the run's one request.
    assert again.params["start"] == "2025-10-27T22:00:00.000Z"
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
    assert readme_queries_give_the_bill(simulator, elering, influxdb1, influx_database) == []
    [bill] = influxdb1.points(influx_database, "electricity_bill")
    assert bill["complete"] is True
    # The README's layout: amounts floats, counts integers, flags booleans.
    amounts = ("energy", "transfer", "tax", "vat", "total")
    assert influxdb1.field_types(influx_database, "electricity_bill") == {
        "month": "string",
        **dict.fromkeys(["kwh", "energy_fee_eur", "transfer_fee_eur"], "float"),
        **{f"{name}_eur": "float" for name in amounts},
        **dict.fromkeys(["expected_periods", "periods", "priced_periods"], "integer"),
        "complete": "boolean",
    }
    units = ("spot_price_eur_mwh", "energy_c_per_kwh", "transfer_c_per_kwh", "tax_c_per_kwh")
    assert influxdb1.field_types(influx_database, "electricity_cost") == {
        **dict.fromkeys(["kwh", *units], "float"),
        **{f"{name}_eur": "float" for name in amounts},
        "resolution": "string",
        "priced": "boolean",
    }

    # WattiVahti withdraws an hour of 30 October (inside the settlement window): the due re-read
    # deletes its four costs from InfluxDB, and the month's bill is folded again without them.
    withdrawn = {
        datetime(2025, 10, 30, 8, 0, tzinfo=UTC) + timedelta(minutes=15 * i) for i in range(4)
    }
    simulator.missing = set(withdrawn)
    assert_ok(meltano.run_pipeline(env={**env, "TAP_WATTIVAHTI_CORRECTION_INTERVAL_HOURS": "0"}))
    costed = {
        datetime.fromtimestamp(p["time"], UTC)
        for p in influxdb1.points(influx_database, "electricity_cost")
    }
    assert len(costed) == 2980 - 4
    assert withdrawn.isdisjoint(costed)
    quarters = simulator.truth(SEED_METERING_POINT, start, stop)  # without the withdrawn hour
    assert withdrawn.isdisjoint(quarters)
    prices = elering.truth("FI", start, stop)  # the hole filled
    expected = as_read(expected_bill(quarters, prices, OCTOBER, Terms.from_readme()))
    [bill] = influxdb1.points(influx_database, "electricity_bill")
    assert (bill["periods"], bill["priced_periods"], bill["complete"]) == (2976, 2976, False)
    compared = [k for k in expected if k not in ("month", "complete")]
    assert {k: bill[k] for k in compared} == pytest.approx(
        {k: expected[k] for k in compared}, abs=1e-9
    )
    assert bill["month"] == expected["month"]


def readme_queries_give_the_bill(simulator, elering, influxdb1, influx_database) -> list[datetime]:
    """The README's "Check your bill" queries (October 2025 of the seed metering point) give the
    month's bill and day sums computed here from the same terms, meter values and prices; the
    periods without a price, which they list, are returned."""
    bill_query, days_query, unpriced_query, day_query, negative_query = [
        q for q in influxql_queries() if '"electricity_cost"' in q or '"electricity_bill"' in q
    ]
    start, stop = local_midnight_utc(OCTOBER), local_midnight_utc(date(2025, 11, 1))
    quarters = simulator.truth(SEED_METERING_POINT, start, stop)
    prices = elering.truth("FI", start, stop)
    terms = Terms.from_readme()
    expected = expected_bill(quarters, prices, OCTOBER, terms)
    [series] = influxdb1.query(bill_query, influx_database)
    [values] = series["values"]
    row = dict(zip(series["columns"], values, strict=True))
    assert row == pytest.approx(as_read(expected), abs=1e-9)
    assert row["kwh"] == pytest.approx(simulator.truth_kwh(SEED_METERING_POINT, start, stop))

    days = per_day(expected_costs(quarters, prices, terms))
    [series] = influxdb1.query(days_query, influx_database)
    assert len(series["values"]) == 31
    for epoch, kwh, energy, transfer, tax, vat, total in series["values"]:
        lines = days[datetime.fromtimestamp(epoch, UTC)]
        expected_lines = [lines.energy, lines.transfer, lines.tax, lines.vat, lines.total]
        assert [energy, transfer, tax, vat, total] == pytest.approx(
            [float(x) for x in expected_lines], abs=1e-9
        )
        day = datetime.fromtimestamp(epoch, HELSINKI).date()
        day_kwh = sum(wh for at, wh in quarters.items() if at.astimezone(HELSINKI).date() == day)
        assert kwh == pytest.approx(day_kwh / 1000)  # unpriced periods' kWh included

    unpriced = influxdb1.query(unpriced_query, influx_database)
    listed = [datetime.fromtimestamp(t, UTC) for s in unpriced for t, *_ in s["values"]]
    [series] = influxdb1.query(day_query, influx_database)
    day_start = local_midnight_utc(date(2025, 10, 28))
    assert [datetime.fromtimestamp(v[0], UTC) for v in series["values"]] == [
        day_start + timedelta(minutes=15 * i) for i in range(96)
    ]
    costs = expected_costs(quarters, prices, terms)
    negative = {at for at in costs if (quarter_price(prices, at) or 0) < 0}
    [series] = influxdb1.query(negative_query, influx_database)
    rows = {datetime.fromtimestamp(v[0], UTC): v[1:] for v in series["values"]}
    assert set(rows) == negative
    assert len(negative) > 10  # the simulated market has some (32 in this October)
    for at, (kwh, eur_mwh, energy, vat) in rows.items():
        lines = costs[at]
        assert lines is not None
        assert [kwh, eur_mwh, energy, vat] == pytest.approx(
            [
                float(lines.kwh),
                float(quarter_price(prices, at) or 0),
                float(lines.energy),
                float(lines.vat),
            ]
        )
    return listed


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
