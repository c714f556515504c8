"""The costs and monthly_bills streams through the tap, against the WattiVahti and Elering
simulators over HTTP: every euro checked against a computation here, from the same terms, of
the simulators' own values and prices (docs/prices-and-costs.md)."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from singer_sdk.sinks.core import JSONSchemaValidator
from tap_wattivahti.streams import COSTS_SCHEMA
from tap_wattivahti.timeutil import local_midnight

from tests.price_simulators import GO_LIVE, TruePrice
from tests.simulator import HELSINKI, SEED_METERING_POINT, MeteringPoint, Simulator

UTC = timezone.utc
QUARTER = timedelta(minutes=15)
HOUR = timedelta(hours=1)
D = Decimal
SPOT = {"from": "2025-01-01", "type": "spot", "margin_c_per_kwh": "0.49", "monthly_fee_eur": 3.9}
TIME_OF_DAY = {
    "from": "2025-10-15",
    "type": "time_of_day",
    "day_c_per_kwh": "10.00",
    "night_c_per_kwh": "6.00",
    "monthly_fee_eur": "4.50",
}
GENERAL = {"from": "2020-01-01", "type": "general", "c_per_kwh": 2.9, "monthly_fee_eur": 7.5}
SEASONAL = {
    "from": "2025-01-01",
    "type": "seasonal",
    "winter_day_c_per_kwh": "4.10",
    "other_c_per_kwh": "2.20",
    "monthly_fee_eur": "9.80",
}
COSTS_PROPERTIES = tuple(COSTS_SCHEMA["properties"])
EURO_FIELDS = ("energy_eur", "transfer_eur", "tax_eur", "vat_eur", "total_eur")
MONEY = (
    "kwh",
    "energy_eur",
    "energy_fee_eur",
    "transfer_eur",
    "transfer_fee_eur",
    "tax_eur",
    "vat_eur",
    "total_eur",
)


# --------------------------------------------------------------- the bill, computed here
def in_force(entries: list[dict], day: date) -> dict | None:
    now = [e for e in entries if date.fromisoformat(e["from"]) <= day]
    return now[-1] if now else None


def vat_percents(day: date) -> tuple[Decimal, Decimal]:
    """(energy, network) VAT % of Finland on ``day``."""
    if day >= date(2024, 9, 1):
        return D("25.5"), D("25.5")
    if date(2022, 12, 1) <= day < date(2023, 5, 1):
        return D(10), D(24)
    return D(24), D(24)


TAX = D("2.253")  # c/kWh, 2015 through March 2026


def spot_of(start: datetime, resolution: str, prices: dict[datetime, TruePrice]) -> Decimal | None:
    own = prices.get(start)
    if own is not None and own.resolution == resolution:
        return own.eur_mwh
    if resolution == "PT15MIN":
        hour = prices.get(start.replace(minute=0))
        return hour.eur_mwh if hour is not None and hour.resolution == "PT1H" else None
    quarters = [prices.get(start + QUARTER * i) for i in range(4)]
    if all(q is not None and q.resolution == "PT15MIN" for q in quarters):
        return sum((q.eur_mwh for q in quarters if q is not None), D(0)) / 4
    return None


def day_hours(local: datetime) -> bool:
    return 7 <= local.hour < 22


def expected_cost(start, resolution, kwh, prices, energy, network) -> dict:
    """The cost record of one period, computed from the terms as written above."""
    local = start.astimezone(HELSINKI)
    contract, tariff = entry_on(energy, local.date()), entry_on(network, local.date())
    assert contract is not None
    assert tariff is not None
    if tariff["type"] == "general":
        transfer = D(str(tariff["c_per_kwh"]))
    else:
        winter = local.month in (11, 12, 1, 2, 3) and local.weekday() != 6 and day_hours(local)
        transfer = D(tariff["winter_day_c_per_kwh" if winter else "other_c_per_kwh"])
    spot = None
    if contract["type"] == "spot":
        spot = spot_of(start, resolution, prices)
        unit = None if spot is None else spot / 10 + D(contract["margin_c_per_kwh"])
    elif contract["type"] == "fixed":
        unit = D(contract["price_c_per_kwh"])
    else:
        unit = D(contract["day_c_per_kwh" if day_hours(local) else "night_c_per_kwh"])
    record = {
        "timestamp": start.isoformat(),
        "resolution": resolution,
        "kwh": kwh,
        "spot_price_eur_mwh": spot,
        "energy_c_per_kwh": unit,
        "transfer_c_per_kwh": transfer,
        "tax_c_per_kwh": TAX,
        "priced": unit is not None,
    }
    if unit is None:
        return {**record, **dict.fromkeys(EURO_FIELDS)}
    energy_vat, network_vat = vat_percents(local.date())
    euros = {
        "energy_eur": kwh * unit / 100,
        "transfer_eur": kwh * transfer / 100,
        "tax_eur": kwh * TAX / 100,
    }
    euros["vat_eur"] = (
        euros["energy_eur"] * energy_vat + (euros["transfer_eur"] + euros["tax_eur"]) * network_vat
    ) / 100
    euros["total_eur"] = sum(euros.values(), D(0))
    return {**record, **euros}


def expected_costs(
    sim: Simulator, first: date, stop: date, prices, energy, network, code=SEED_METERING_POINT
):
    """Every period's cost record of ``[first, stop)`` (local days), by timestamp."""
    points = sim.expected_points(
        code, local_midnight(first, HELSINKI), local_midnight(stop, HELSINKI)
    )
    return {
        start.isoformat(): expected_cost(start, resolution, D(wh) / 1000, prices, energy, network)
        for start, (resolution, wh) in sorted(points.items())
    }


def fees(
    month: date, energy: list[dict], network: list[dict], days: int | None = None
) -> tuple[Decimal, Decimal, Decimal]:
    """The month's energy fee, transfer fee and their VAT (each day a share of the month), of
    its first ``days`` days (None: all)."""
    following = (month + timedelta(days=32)).replace(day=1)
    length = (following - month).days
    energy_fee = transfer_fee = vat = D(0)
    for n in range(length if days is None else days):
        day = month + timedelta(days=n)
        energy_vat, network_vat = vat_percents(day)
        e = D(str(entry_on(energy, day)["monthly_fee_eur"]))
        t = D(str(entry_on(network, day)["monthly_fee_eur"]))
        energy_fee += e / length
        transfer_fee += t / length
        vat += (e * energy_vat + t * network_vat) / 100 / length
    return energy_fee, transfer_fee, vat


def expected_bill(costs: dict[str, dict], month: date, energy, network) -> dict:
    """The month's bill from its period records (``costs``: all of the month's periods)."""
    inside = [c for c in costs.values() if month_of(c["timestamp"]) == month]
    priced = [c for c in inside if c["priced"]]
    energy_fee, transfer_fee, fee_vat = fees(month, energy, network)
    bill = {name: sum((c[name] for c in priced), D(0)) for name in EURO_FIELDS}
    bill["kwh"] = sum((c["kwh"] for c in inside), D(0))
    bill["vat_eur"] += fee_vat
    bill.update(energy_fee_eur=energy_fee, transfer_fee_eur=transfer_fee)
    bill["total_eur"] += energy_fee + transfer_fee + fee_vat
    bill.update(periods=len(inside), priced_periods=len(priced))
    return bill


def entry_on(entries: list[dict], day: date) -> dict:
    entry = in_force(entries, day)
    assert entry is not None
    return entry


def month_of(timestamp: str) -> date:
    return datetime.fromisoformat(timestamp).astimezone(HELSINKI).date().replace(day=1)


def assert_records_are(records: list[dict], expected: dict[str, dict]) -> None:
    assert [r["timestamp"] for r in records] == list(expected)
    for record in records:
        want = expected[record["timestamp"]]
        for name, value in want.items():
            if isinstance(value, Decimal):
                assert record[name] == pytest.approx(float(value), rel=1e-12, abs=1e-15), name
            else:
                assert record[name] == value, (record["timestamp"], name)


def assert_bill_is(record: dict, expected: dict) -> None:
    for name in MONEY:
        assert record[name] == pytest.approx(float(expected[name]), rel=1e-12), name
    assert (record["periods"], record["priced_periods"]) == (
        expected["periods"],
        expected["priced_periods"],
    )


# --------------------------------------------------------------- the runs
@pytest.fixture
def costed(tap_config, elering, catalog_selecting, run_tap, caplog):
    """Run the tap with consumption, costs and monthly_bills selected and prices from
    ``elering``: ``run(start_date, end_date, **settings)`` (end_date None: up to now);
    ``state`` continues a run."""

    def run(start: str, end: str | None, sim: Simulator | None = None, state=None, **settings):
        extra: dict[str, object] = {"sim": sim} if sim is not None else {}
        if end is not None:  # None: up to now
            extra["end_date"] = end
        config = tap_config(elering_url=elering.url, start_date=start, **extra, **settings)
        catalog = catalog_selecting(config, "consumption", "costs", "monthly_bills")
        elering.clear_log()
        caplog.clear()
        with caplog.at_level(logging.INFO):
            result = run_tap(config, state=state, catalog=catalog)
        result.log = list(caplog.records)  # what this run logged
        return result

    return run


def bills(run) -> dict[str, dict]:
    return {r["month"]: r for r in run.records("monthly_bills")}


def prices(elering, first: date, stop: date):
    return elering.truth("FI", local_midnight(first, HELSINKI), local_midnight(stop, HELSINKI))


def test_a_month_across_the_15_minute_go_live(costed, elering, simulator):
    energy, network = [SPOT], [GENERAL]
    run = costed("2025-09-01", "2025-10-08", energy_contracts=energy, network_tariffs=network)
    market = prices(elering, date(2025, 9, 1), date(2025, 10, 8))
    expected = expected_costs(
        simulator, date(2025, 9, 1), date(2025, 10, 8), market, energy, network
    )
    assert len(expected) == 37 * 96
    assert_records_are(run.records("costs"), expected)
    # The first Finnish hour of October still has one hourly price: its four quarters take it.
    first_hour = [expected[(GO_LIVE - HOUR + QUARTER * i).isoformat()] for i in range(4)]
    hourly = market[GO_LIVE - HOUR]
    assert hourly.resolution == "PT1H"
    assert {q["spot_price_eur_mwh"] for q in first_hour} == {hourly.eur_mwh}
    assert market[GO_LIVE].resolution == "PT15MIN"
    september, october = bills(run)["2025-09"], bills(run)["2025-10"]
    assert_bill_is(september, expected_bill(expected, date(2025, 9, 1), energy, network))
    assert september["energy_fee_eur"] == 3.9
    assert september["transfer_fee_eur"] == 7.5
    assert (september["expected_periods"], september["complete"]) == (30 * 96, True)
    assert_bill_is(october, expected_bill(expected, date(2025, 10, 1), energy, network))
    assert (october["expected_periods"], october["periods"]) == (31 * 96 + 4, 7 * 96)
    assert october["complete"] is False
    assert len(elering.requests()) == 2  # 37 days: Elering gives at most a month per request


def test_a_contract_change_mid_month_the_fall_dst_day_and_the_first_winter_days(
    costed, elering, simulator
):
    energy, network = [SPOT, TIME_OF_DAY], [SEASONAL]
    run = costed("2025-10-01", "2025-11-03", energy_contracts=energy, network_tariffs=network)
    market = prices(elering, date(2025, 10, 1), date(2025, 11, 3))
    expected = expected_costs(
        simulator, date(2025, 10, 1), date(2025, 11, 3), market, energy, network
    )
    records = run.records("costs")
    assert_records_are(records, expected)
    by_day = Counter(
        datetime.fromisoformat(r["timestamp"]).astimezone(HELSINKI).date() for r in records
    )
    assert by_day[date(2025, 10, 26)] == 100  # the fall DST day: 25 hours
    assert all(r["priced"] for r in records)
    spot_days = {
        r["spot_price_eur_mwh"] is not None
        for r in records
        if r["timestamp"] < local_midnight(date(2025, 10, 15), HELSINKI).isoformat()
    }
    assert spot_days == {True}
    assert all(
        r["spot_price_eur_mwh"] is None and r["energy_c_per_kwh"] in (10.0, 6.0)
        for r in records
        if datetime.fromisoformat(r["timestamp"]) >= local_midnight(date(2025, 10, 15), HELSINKI)
    )
    # 1 November 2025 is a Saturday: the first winter day; 07:00-22:00 at the winter day price.
    saturday = {
        datetime.fromisoformat(r["timestamp"]).astimezone(HELSINKI).hour: r["transfer_c_per_kwh"]
        for r in records
        if r["timestamp"].startswith("2025-11-01T")
    }
    assert {h: p for h, p in saturday.items()} == {h: 4.1 if 7 <= h < 22 else 2.2 for h in saturday}
    sunday = [
        r["transfer_c_per_kwh"]
        for r in records
        if datetime.fromisoformat(r["timestamp"]).astimezone(HELSINKI).date() == date(2025, 11, 2)
    ]
    assert len(sunday) == 96
    assert set(sunday) == {2.2}
    october = bills(run)["2025-10"]
    assert_bill_is(october, expected_bill(expected, date(2025, 10, 1), energy, network))
    assert october["energy_fee_eur"] == pytest.approx((3.9 * 14 + 4.5 * 17) / 31, rel=1e-12)
    assert (october["expected_periods"], october["complete"]) == (31 * 96 + 4, True)
    assert bills(run)["2025-11"]["complete"] is False


def test_an_hourly_meter_pays_the_mean_of_the_hours_quarter_prices(costed, elering):
    code = "7654321"
    with Simulator([MeteringPoint(code, switch_date=date(2030, 1, 1))]) as sim:
        energy, network = [SPOT], [GENERAL]
        run = costed(
            "2025-10-05", "2025-10-08", sim=sim, energy_contracts=energy, network_tariffs=network
        )
        market = prices(elering, date(2025, 10, 5), date(2025, 10, 8))
        expected = expected_costs(
            sim, date(2025, 10, 5), date(2025, 10, 8), market, energy, network, code=code
        )
    records = run.records("costs")
    assert len(records) == 3 * 24
    assert {r["resolution"] for r in records} == {"PT1H"}
    assert_records_are(records, expected)
    first = datetime.fromisoformat(records[0]["timestamp"])
    quarters = [market[first + QUARTER * i].eur_mwh for i in range(4)]
    assert records[0]["spot_price_eur_mwh"] == pytest.approx(float(sum(quarters) / 4))
    october = bills(run)["2025-10"]
    assert october["expected_periods"] == 31 * 24 + 1  # an hourly month, DST day included
    assert_bill_is(october, expected_bill(expected, date(2025, 10, 1), energy, network))


def test_the_ten_percent_vat_and_the_2024_change(costed, elering, simulator):
    fixed = {
        "from": "2022-01-01",
        "type": "fixed",
        "price_c_per_kwh": "30.00",
        "monthly_fee_eur": "5.00",
    }
    network = [GENERAL]
    winter = costed("2022-11-29", "2022-12-03", energy_contracts=[fixed], network_tariffs=network)
    expected = expected_costs(
        simulator, date(2022, 11, 29), date(2022, 12, 3), {}, [fixed], network
    )
    assert elering.requests() == []  # a fixed price needs no market price: no request
    records = winter.records("costs")
    assert {r["resolution"] for r in records} == {"PT1H"}  # the meter was hourly then
    assert_records_are(records, expected)
    december = bills(winter)["2022-12"]
    assert_bill_is(december, expected_bill(expected, date(2022, 12, 1), [fixed], network))
    # 10 % on the seller's fee, 24 % on the network's: the fees' VAT alone, by component.
    fee_vat = D("5.00") * 10 / 100 + D("7.5") * 24 / 100
    day_vat = sum(
        (c["vat_eur"] for c in expected.values() if month_of(c["timestamp"]).month == 12), D(0)
    )
    assert december["vat_eur"] == pytest.approx(float(day_vat + fee_vat), rel=1e-12)

    energy = [{**SPOT, "from": "2024-01-01"}]
    autumn = costed("2024-08-30", "2024-09-02", energy_contracts=energy, network_tariffs=network)
    market = prices(elering, date(2024, 8, 30), date(2024, 9, 2))
    expected = expected_costs(
        simulator, date(2024, 8, 30), date(2024, 9, 2), market, energy, network
    )
    records = autumn.records("costs")
    assert_records_are(records, expected)  # 15-minute values at hourly prices, VAT by date
    last_august, first_september = records[2 * 96 - 1], records[2 * 96]
    for record, percent in ((last_august, 24), (first_september, D("25.5"))):
        net = D(str(record["total_eur"])) - D(str(record["vat_eur"]))
        assert record["vat_eur"] == pytest.approx(float(net * percent / 100), rel=1e-9)
    for month in (date(2024, 8, 1), date(2024, 9, 1)):
        assert_bill_is(
            bills(autumn)[month.strftime("%Y-%m")], expected_bill(expected, month, energy, network)
        )


def test_a_missing_price_is_unpriced_and_costed_when_it_arrives(costed, elering, simulator):
    energy, network = [SPOT], [GENERAL]
    hole = [
        local_midnight(date(2025, 10, 16), HELSINKI) + HOUR * 10 + QUARTER * i for i in range(6)
    ]
    elering.missing = set(hole)
    terms = {"energy_contracts": energy, "network_tariffs": network}
    first = costed("2025-10-13", "2025-10-20", **terms)
    unpriced = [r for r in first.records("costs") if not r["priced"]]
    assert [r["timestamp"] for r in unpriced] == [h.isoformat() for h in hole]
    assert all(r[name] is None for r in unpriced for name in (*EURO_FIELDS, "spot_price_eur_mwh"))
    assert all(r["kwh"] > 0 and r["transfer_c_per_kwh"] == 2.9 for r in unpriced)
    market = prices(elering, date(2025, 10, 13), date(2025, 10, 20))
    expected = expected_costs(
        simulator, date(2025, 10, 13), date(2025, 10, 20), market, energy, network
    )
    assert_records_are(first.records("costs"), expected)
    [october] = first.records("monthly_bills")
    assert (october["periods"], october["priced_periods"]) == (7 * 96, 7 * 96 - 6)
    assert_bill_is(october, expected_bill(expected, date(2025, 10, 1), energy, network))
    [warning] = [r.getMessage() for r in costed_warnings(first)]
    assert "6 period(s)" in warning
    assert "2025-10-16 10:00" in warning

    elering.missing = set()
    second = costed("2025-10-13", "2025-10-20", state=first.state, **terms)
    assert len(elering.requests()) == 1
    market = prices(elering, date(2025, 10, 13), date(2025, 10, 20))
    filled = expected_costs(
        simulator, date(2025, 10, 16), date(2025, 10, 17), market, energy, network
    )
    assert_records_are(second.records("costs"), filled)  # the day of the hole, now priced
    [october] = second.records("monthly_bills")
    assert october["priced_periods"] == 7 * 96
    whole = expected_costs(
        simulator, date(2025, 10, 13), date(2025, 10, 20), market, energy, network
    )
    assert_bill_is(october, expected_bill(whole, date(2025, 10, 1), energy, network))
    partition = second.state["bookmarks"]["costs"]["partitions"][0]
    assert "unpriced" not in partition
    third = costed("2025-10-13", "2025-10-20", state=second.state, **terms)
    assert third.records("costs") == []
    assert third.records("monthly_bills") == []


def costed_warnings(run) -> list[logging.LogRecord]:
    return [r for r in run.log if r.levelno == logging.WARNING and "market price" in r.getMessage()]


def test_a_corrected_meter_value_re_emits_its_days_costs_and_its_month(costed, elering, simulator):
    energy, network = [SPOT], [GENERAL]
    terms = {"energy_contracts": energy, "network_tariffs": network}
    first = costed("2025-10-13", "2025-10-20", **terms)
    corrected_day = date(2025, 10, 15)
    corrected = local_midnight(corrected_day, HELSINKI) + HOUR * 9
    simulator.corrections = {corrected: 1234}
    second = costed(
        "2025-10-13", "2025-10-20", state=first.state, correction_interval_hours=0, **terms
    )
    market = prices(elering, date(2025, 10, 13), date(2025, 10, 20))
    day = expected_costs(
        simulator, corrected_day, corrected_day + timedelta(days=1), market, energy, network
    )
    assert_records_are(second.records("costs"), day)  # that day's costs, and nothing else
    assert day[corrected.isoformat()]["kwh"] == D("1.234")
    [october] = second.records("monthly_bills")
    whole = expected_costs(
        simulator, date(2025, 10, 13), date(2025, 10, 20), market, energy, network
    )
    assert_bill_is(october, expected_bill(whole, date(2025, 10, 1), energy, network))
    assert october["kwh"] != bills(first)["2025-10"]["kwh"]


@pytest.mark.parametrize("how", ["null", "absent"])
def test_a_withdrawn_value_deletes_its_cost_and_re_bills_its_month(costed, elering, simulator, how):
    energy, network = [SPOT], [GENERAL]
    terms = {"energy_contracts": energy, "network_tariffs": network}
    first = costed("2025-10-13", "2025-10-20", **terms)
    day = date(2025, 10, 15)
    gone = {local_midnight(day, HELSINKI) + HOUR * 10 + QUARTER * i for i in range(3)}
    setattr(simulator, "missing" if how == "null" else "absent", set(gone))
    second = costed(
        "2025-10-13", "2025-10-20", state=first.state, correction_interval_hours=0, **terms
    )
    records = second.records("costs")
    deleted = [r for r in records if r.get("_sdc_deleted_at") is not None]
    [deleted_at] = {r["_sdc_deleted_at"] for r in deleted}
    nulls = dict.fromkeys(set(COSTS_PROPERTIES) - {"metering_point", "kind", "timestamp"})
    assert deleted == [
        {
            **nulls,
            "metering_point": SEED_METERING_POINT,
            "kind": "consumption",
            "timestamp": instant.isoformat(),
            "_sdc_deleted_at": deleted_at,
        }
        for instant in sorted(gone)
    ]
    [schema] = [m["schema"] for m in second.messages
                if m["type"] == "SCHEMA" and m["stream"] == "costs"]  # fmt: skip
    validator = JSONSchemaValidator(schema, validate_formats=True)
    for record in records:
        validator.validate(record)
    # The day's costs again (without the withdrawn periods), the deletions in UTC order among them.
    market = prices(elering, date(2025, 10, 13), date(2025, 10, 20))
    whole = expected_costs(
        simulator, date(2025, 10, 13), date(2025, 10, 20), market, energy, network
    )
    assert [r["timestamp"] for r in records] == sorted(
        [at for at in whole if month_day(at) == day] + [g.isoformat() for g in gone]
    )
    assert_records_are([r for r in records if r not in deleted], {
        at: cost for at, cost in whole.items() if month_day(at) == day
    })  # fmt: skip
    # What a store with point identity holds after both runs: every cost but the withdrawn ones.
    held: dict[str, dict] = {}
    for record in first.records("costs") + records:
        if record.get("_sdc_deleted_at") is not None:
            held.pop(record["timestamp"], None)
        else:
            held[record["timestamp"]] = record
    assert sorted(held) == sorted(whole)
    assert gone.isdisjoint(datetime.fromisoformat(at) for at in held)
    # The month again, without the withdrawn periods: the grid now lacks three values.
    [october] = second.records("monthly_bills")
    assert_bill_is(october, expected_bill(whole, date(2025, 10, 1), energy, network))
    assert october["periods"] == bills(first)["2025-10"]["periods"] - 3
    assert october["complete"] is False


def month_day(timestamp: str) -> date:
    return datetime.fromisoformat(timestamp).astimezone(HELSINKI).date()


def test_every_run_emits_the_running_month_to_date_even_with_no_new_meter_data(
    costed, elering, simulator
):
    energy, network = [SPOT], [GENERAL]
    terms = {"energy_contracts": energy, "network_tariffs": network}
    month = datetime.now(HELSINKI).date().replace(day=1)
    simulator.available_until = local_midnight(month, HELSINKI)  # nothing of this month yet
    start = (month - timedelta(days=2)).isoformat()
    first = costed(start, None, **terms)
    second = costed(start, None, state=first.state, **terms)
    assert second.records("costs") == []  # nothing new to cost
    today = datetime.now(HELSINKI).date()
    energy_fee, transfer_fee, fee_vat = fees(month, energy, network, days=today.day)
    for run in (first, second):
        running = bills(run)[month.strftime("%Y-%m")]
        assert running["month_start"] == local_midnight(month, HELSINKI).isoformat()
        assert (running["periods"], running["priced_periods"], running["complete"]) == (
            0,
            0,
            False,
        )
        assert running["kwh"] == running["energy_eur"] == running["transfer_eur"] == 0
        # Month to date: the fees of the days from the 1st through today, of the month's days.
        assert running["energy_fee_eur"] == pytest.approx(float(energy_fee), rel=1e-12)
        assert running["transfer_fee_eur"] == pytest.approx(float(transfer_fee), rel=1e-12)
        assert running["vat_eur"] == pytest.approx(float(fee_vat), rel=1e-12)
        total = energy_fee + transfer_fee + fee_vat
        assert running["total_eur"] == pytest.approx(float(total), rel=1e-12)


def test_without_terms_both_streams_emit_nothing_and_say_so_once(costed, elering):
    run = costed("2025-10-13", "2025-10-15")
    assert run.records("costs") == []
    assert run.records("monthly_bills") == []
    assert len(run.records("consumption")) == 2 * 96
    said = [r.getMessage() for r in run.log if "No contract terms" in r.getMessage()]
    assert len(said) == 1
    assert all(r.levelno == logging.INFO for r in run.log if "No contract terms" in r.getMessage())
    assert "costs and monthly_bills emit nothing" in said[0]
    assert elering.requests() == []  # nothing to price: no request


def test_the_streams_schemas_and_keys(tap_config, catalog_selecting):
    catalog = catalog_selecting(tap_config(), "costs")
    entries = {e["tap_stream_id"]: e for e in catalog["streams"]}
    costs, bill = entries["costs"], entries["monthly_bills"]
    assert set(costs["schema"]["properties"]) == {
        "metering_point",
        "kind",
        "timestamp",
        "resolution",
        "kwh",
        "spot_price_eur_mwh",
        "energy_c_per_kwh",
        "transfer_c_per_kwh",
        "tax_c_per_kwh",
        *EURO_FIELDS,
        "priced",
        "_sdc_deleted_at",  # only on a deletion record: a withdrawn meter value's cost is gone
    }
    assert set(bill["schema"]["properties"]) == {
        "metering_point",
        "kind",
        "month",
        "month_start",
        *MONEY,
        "expected_periods",
        "periods",
        "priced_periods",
        "complete",
    }
    tops = {
        name: next(m["metadata"] for m in entry["metadata"] if m["breadcrumb"] == [])
        for name, entry in entries.items()
    }
    keys = {name: list(top["table-key-properties"]) for name, top in tops.items()}
    assert keys["costs"] == ["metering_point", "kind", "timestamp"]
    assert keys["monthly_bills"] == ["metering_point", "kind", "month_start"]
    assert costs["schema"]["properties"]["total_eur"]["type"] == ["number", "null"]


def test_an_hour_later_only_the_new_periods_and_the_month_to_date_are_emitted(
    costed, elering, simulator
):
    energy, network = [SPOT], [GENERAL]
    terms = {"energy_contracts": energy, "network_tariffs": network}
    first = costed("2025-10-13", "2025-10-15T10:00:00", **terms)
    second = costed("2025-10-13", "2025-10-15T11:00:00", state=first.state, **terms)
    market = prices(elering, date(2025, 10, 13), date(2025, 10, 16))
    ten = local_midnight(date(2025, 10, 15), HELSINKI) + HOUR * 10
    new = {
        at: cost
        for at, cost in expected_costs(
            simulator, date(2025, 10, 15), date(2025, 10, 16), market, energy, network
        ).items()
        if ten <= datetime.fromisoformat(at) < ten + HOUR
    }
    assert len(new) == 4
    assert_records_are(second.records("costs"), new)  # the running day grew: only its new hour
    [october] = second.records("monthly_bills")
    assert october["periods"] == bills(first)["2025-10"]["periods"] + 4
    assert len(elering.requests()) <= 1


def test_with_spot_prices_the_next_runs_one_request_starts_where_the_streams_need_it(
    tap_config, elering, catalog_selecting, run_tap
):
    """costs ask for the run's prices before spot_prices syncs: spot_prices' part of the one
    request still starts after its bookmark, not at start_date."""
    terms = {"energy_contracts": [SPOT], "network_tariffs": [GENERAL]}
    config = tap_config(
        elering_url=elering.url, start_date="2025-10-13", end_date="2025-10-20", **terms
    )
    catalog = catalog_selecting(config, "consumption", "spot_prices", "costs", "monthly_bills")
    first = run_tap(config, catalog=catalog)
    elering.clear_log()
    run_tap(config, state=first.state, catalog=catalog)
    [again] = elering.requests()
    # The meter reads the bookmark's day (2025-10-19) again, which costs prices again.
    assert again.params["start"] == "2025-10-18T21:00:00.000Z"
