"""Table tests of the pure pricing module: a period's cost lines under every contract and tariff
type, DST days, VAT boundaries, price resolutions and missing prices, and the month's bill.

Every expected figure is worked out by hand from the terms stated in the test, its arithmetic
written beside it (c/kWh * kWh / 100 = EUR; EUR/MWh / 10 = c/kWh).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from tap_wattivahti.pricing import (
    DayCosts,
    MeteredPeriod,
    MonthBill,
    SpotPrice,
    month_bill,
    month_days,
    period_cost,
    spot_price,
)
from tap_wattivahti.resolution import HOURLY, QUARTER_HOURLY
from tap_wattivahti.terms import parse_terms
from tap_wattivahti.timeutil import QUARTER, day_grid

UTC = timezone.utc
HELSINKI = ZoneInfo("Europe/Helsinki")
D = Decimal
GO_LIVE = datetime(2025, 9, 30, 22, tzinfo=UTC)  # the first quarter-hour price
QUARTERS = datetime(2025, 1, 1, tzinfo=UTC)  # a meter with 15-minute values all along

ENERGY = {
    "spot": {"type": "spot", "margin_c_per_kwh": "0.49", "monthly_fee_eur": "3.90"},
    "fixed": {"type": "fixed", "price_c_per_kwh": "9.00", "monthly_fee_eur": "3.90"},
    "time_of_day": {
        "type": "time_of_day",
        "day_c_per_kwh": "10.00",
        "night_c_per_kwh": "6.00",
        "monthly_fee_eur": "4.50",
    },
}
NETWORK = {
    "general": {"type": "general", "c_per_kwh": "2.90", "monthly_fee_eur": "7.50"},
    "time_of_day": {
        "type": "time_of_day",
        "day_c_per_kwh": "3.50",
        "night_c_per_kwh": "2.00",
        "monthly_fee_eur": "9.00",
    },
    "seasonal": {
        "type": "seasonal",
        "winter_day_c_per_kwh": "4.00",
        "other_c_per_kwh": "2.50",
        "monthly_fee_eur": "9.00",
    },
}


def at(local: str) -> datetime:
    """A local time with its offset, e.g. ``2025-01-15T10:00+02:00``, as a UTC instant."""
    return datetime.fromisoformat(local).astimezone(UTC)


def terms(energy="spot", network="general", start="2025-01-01", **settings):
    return parse_terms(
        {
            "energy_contracts": [{"from": start, **ENERGY[energy]}],
            "network_tariffs": [{"from": start, **NETWORK[network]}],
            **settings,
        },
        HELSINKI,
    )


def quarter(local: str, kwh: str = "1", kind: str = "consumption") -> MeteredPeriod:
    return MeteredPeriod(at(local), QUARTER_HOURLY, D(kwh), kind)


def hour(local: str, kwh: str = "1", kind: str = "consumption") -> MeteredPeriod:
    return MeteredPeriod(at(local), HOURLY, D(kwh), kind)


def hourly_price(local: str, eur_mwh: str) -> dict[datetime, SpotPrice]:
    return {at(local): SpotPrice(HOURLY, D(eur_mwh))}


# 2025-01-15 is a Wednesday in winter; UTC+2. Hourly prices only (before the 15-minute market).
WINTER_DAY = "2025-01-15T10:00+02:00"  # tariff day, seasonal winter day
WINTER_NIGHT = "2025-01-15T23:00+02:00"  # tariff night
PRICES = {**hourly_price(WINTER_DAY, "80"), **hourly_price(WINTER_NIGHT, "40")}


@pytest.mark.parametrize(
    ("energy", "network", "when", "energy_c", "transfer_c", "total"),
    [
        # 0.5 kWh; tax 2.253 c/kWh; VAT 25.5 %: total = (energy + transfer + 2.253) c/kWh
        # * 0.5 kWh / 100 * 1.255. By day the spot price is 80 EUR/MWh = 8.00 c/kWh.
        ("spot", "general", WINTER_DAY, "8.49", "2.90", "0.085609825"),  # 13.643 * 0.006275
        ("spot", "time_of_day", WINTER_DAY, "8.49", "3.50", "0.089374825"),  # 14.243 * 0.006275
        ("spot", "seasonal", WINTER_DAY, "8.49", "4.00", "0.092512325"),  # 14.743 * 0.006275
        ("fixed", "general", WINTER_DAY, "9.00", "2.90", "0.088810075"),  # 14.153 * 0.006275
        ("fixed", "time_of_day", WINTER_DAY, "9.00", "3.50", "0.092575075"),  # 14.753 * ...
        ("fixed", "seasonal", WINTER_DAY, "9.00", "4.00", "0.095712575"),  # 15.253 * 0.006275
        ("time_of_day", "general", WINTER_DAY, "10.00", "2.90", "0.095085075"),  # 15.153 * ...
        ("time_of_day", "time_of_day", WINTER_DAY, "10.00", "3.50", "0.098850075"),  # 15.753
        ("time_of_day", "seasonal", WINTER_DAY, "10.00", "4.00", "0.101987575"),  # 16.253
        # At 23:00 the spot price is 40 EUR/MWh = 4.00 c/kWh; night prices; seasonal "other".
        ("spot", "general", WINTER_NIGHT, "4.49", "2.90", "0.060509825"),  # 9.643 * 0.006275
        ("spot", "time_of_day", WINTER_NIGHT, "4.49", "2.00", "0.054862325"),  # 8.743 * ...
        ("spot", "seasonal", WINTER_NIGHT, "4.49", "2.50", "0.057999825"),  # 9.243 * 0.006275
        ("fixed", "general", WINTER_NIGHT, "9.00", "2.90", "0.088810075"),  # 14.153 * ...
        ("fixed", "time_of_day", WINTER_NIGHT, "9.00", "2.00", "0.083162575"),  # 13.253 * ...
        ("fixed", "seasonal", WINTER_NIGHT, "9.00", "2.50", "0.086300075"),  # 13.753 * ...
        ("time_of_day", "general", WINTER_NIGHT, "6.00", "2.90", "0.069985075"),  # 11.153
        ("time_of_day", "time_of_day", WINTER_NIGHT, "6.00", "2.00", "0.064337575"),  # 10.253
        ("time_of_day", "seasonal", WINTER_NIGHT, "6.00", "2.50", "0.067475075"),  # 10.753
    ],
)
def test_every_contract_type_by_every_tariff_type_by_day_and_night(
    energy, network, when, energy_c, transfer_c, total
):
    cost = period_cost(hour(when, "0.5"), PRICES, terms(energy, network))
    assert cost is not None
    assert cost.energy_c_per_kwh == D(energy_c)
    assert cost.transfer_c_per_kwh == D(transfer_c)
    assert cost.tax_c_per_kwh == D("2.253")
    assert cost.total_eur == D(total)
    spot = {WINTER_DAY: D(80), WINTER_NIGHT: D(40)}[when] if energy == "spot" else None
    assert cost.spot_price_eur_mwh == spot  # the market price only where it set the price


def test_one_period_line_by_line():
    cost = period_cost(hour(WINTER_DAY, "0.5"), PRICES, terms("spot", "general"))
    assert cost is not None
    assert cost.spot_price_eur_mwh == D(80)
    assert cost.energy_c_per_kwh == D("8.49")  # 80 / 10 + 0.49
    assert cost.energy_eur == D("0.04245")  # 0.5 * 8.49 / 100
    assert cost.transfer_eur == D("0.0145")  # 0.5 * 2.90 / 100
    assert cost.tax_eur == D("0.011265")  # 0.5 * 2.253 / 100
    assert cost.vat_eur == D("0.017394825")  # 25.5 % * (0.04245 + 0.0145 + 0.011265)
    assert cost.total_eur == D("0.085609825")  # 0.068215 + 0.017394825
    assert cost.priced
    assert cost.record("1234567") == {
        "metering_point": "1234567",
        "kind": "consumption",
        "timestamp": "2025-01-15T08:00:00+00:00",
        "resolution": "PT1H",
        "kwh": 0.5,
        "spot_price_eur_mwh": 80.0,
        "energy_c_per_kwh": 8.49,
        "transfer_c_per_kwh": 2.9,
        "tax_c_per_kwh": 2.253,
        "energy_eur": 0.04245,
        "transfer_eur": 0.0145,
        "tax_eur": 0.011265,
        "vat_eur": 0.017394825,
        "total_eur": 0.085609825,
        "priced": True,
    }


@pytest.mark.parametrize(
    ("local", "transfer_c"),
    [
        ("2025-10-31T10:00+02:00", "2.50"),  # a Friday, but October: other
        ("2025-11-01T06:45+02:00", "2.50"),  # the first winter Saturday, before 07:00: other
        ("2025-11-01T07:00+02:00", "4.00"),  # 07:00 on Saturday 1 November: winter day
        ("2025-11-01T10:00+02:00", "4.00"),
        ("2025-11-01T21:45+02:00", "4.00"),  # the last quarter hour before 22:00
        ("2025-11-01T22:00+02:00", "2.50"),
        ("2025-11-02T10:00+02:00", "2.50"),  # Sunday: other all day
        ("2025-11-03T10:00+02:00", "4.00"),  # Monday
        ("2026-03-31T21:45+03:00", "4.00"),  # the last winter day (a Tuesday), summer time
        ("2026-04-01T10:00+03:00", "2.50"),  # April: other
    ],
)
def test_the_seasonal_winter_day_is_november_to_march_monday_to_saturday_07_to_22(
    local, transfer_c
):
    cost = period_cost(quarter(local), {}, terms("fixed", "seasonal"))
    assert cost is not None
    assert cost.transfer_c_per_kwh == D(transfer_c)


@pytest.mark.parametrize(
    ("day", "periods", "first_day_quarter", "sums"),
    [
        # 2025-03-30: 03:00-04:00 does not exist. Night: 00-03 and 04-07 (24 quarters) + 22-24 (8).
        (
            date(2025, 3, 30),
            92,
            "2025-03-30T07:00+03:00",
            {
                "kwh": "23.00",  # 92 * 0.25
                "energy_eur": "1.98",  # 60 * 0.25 * 10.00 / 100 + 32 * 0.25 * 6.00 / 100
                "transfer_eur": "0.685",  # 15 * 3.50 / 100 + 8 * 2.00 / 100
                "tax_eur": "0.51819",  # 23 * 2.253 / 100
                "vat_eur": "0.81171345",  # 25.5 % * (1.98 + 0.685 + 0.51819)
            },
        ),
        # 2025-10-26: 03:00-04:00 happens twice, both night: 32 quarters before 07, 8 after 22.
        (
            date(2025, 10, 26),
            100,
            "2025-10-26T07:00+02:00",
            {
                "kwh": "25.00",  # 100 * 0.25
                "energy_eur": "2.10",  # 15 * 10.00 / 100 + 10 * 6.00 / 100
                "transfer_eur": "0.725",  # 15 * 3.50 / 100 + 10 * 2.00 / 100
                "tax_eur": "0.56325",  # 25 * 2.253 / 100
                "vat_eur": "0.86400375",  # 25.5 % * (2.10 + 0.725 + 0.56325)
            },
        ),
    ],
)
def test_a_dst_day_prices_its_60_day_quarter_hours_by_day_and_the_rest_by_night(
    day, periods, first_day_quarter, sums
):
    chosen = terms("time_of_day", "time_of_day")  # day 10.00 and 3.50, night 6.00 and 2.00
    costs = [
        period_cost(MeteredPeriod(period.start, QUARTER_HOURLY, D("0.25")), {}, chosen)
        for period in day_grid(day, HELSINKI, QUARTERS)
    ]
    by_day = [cost for cost in costs if cost and cost.energy_c_per_kwh == D("10.00")]
    assert (len(costs), len(by_day)) == (periods, 60)
    assert by_day[0].period.start == at(first_day_quarter)
    summed = DayCosts.of(cost for cost in costs if cost is not None)
    assert summed.periods == summed.priced_periods == periods
    assert {name: getattr(summed, name) for name in sums} == {
        name: D(value) for name, value in sums.items()
    }


@pytest.mark.parametrize(
    ("local", "vat"),
    [
        # 1 kWh, fixed 10.00 c/kWh, general transfer 3.00 c/kWh, tax 2.253 c/kWh:
        # energy 0.10 EUR, network 0.03 + 0.02253 = 0.05253 EUR.
        ("2022-11-30T23:00+02:00", "0.0366072"),  # 24 % * 0.15253
        ("2022-12-01T00:00+02:00", "0.0226072"),  # 10 % * 0.10 + 24 % * 0.05253
        ("2023-04-30T23:00+03:00", "0.0226072"),  # still 10 % on energy
        ("2023-05-01T00:00+03:00", "0.0366072"),  # 24 % * 0.15253
        ("2024-08-31T23:00+03:00", "0.0366072"),
        ("2024-09-01T00:00+03:00", "0.03889515"),  # 25.5 % * 0.15253
    ],
)
def test_vat_follows_the_local_date_by_component_at_each_boundary(local, vat):
    chosen = parse_terms(
        {
            "energy_contracts": [
                {"from": "2020-01-01", "type": "fixed", "price_c_per_kwh": 10, "monthly_fee_eur": 0}
            ],
            "network_tariffs": [
                {"from": "2020-01-01", "type": "general", "c_per_kwh": 3, "monthly_fee_eur": 0}
            ],
        },
        HELSINKI,
    )
    cost = period_cost(hour(local), {}, chosen)
    assert cost is not None
    assert cost.vat_eur == D(vat)
    assert cost.total_eur == D("0.15253") + D(vat)


def test_a_contract_change_at_local_midnight_prices_each_side_by_its_own_terms():
    chosen = parse_terms(
        {
            "energy_contracts": [
                {"from": "2025-01-01", **ENERGY["spot"]},
                {"from": "2025-10-15", **ENERGY["time_of_day"]},
            ],
            "network_tariffs": [{"from": "2025-01-01", **NETWORK["general"]}],
        },
        HELSINKI,
    )
    before, after = at("2025-10-14T23:45+03:00"), at("2025-10-15T00:00+03:00")  # 20:45Z, 21:00Z
    prices = {before: SpotPrice(QUARTER_HOURLY, D(50)), after: SpotPrice(QUARTER_HOURLY, D(50))}
    last_spot = period_cost(MeteredPeriod(before, QUARTER_HOURLY, D(1)), prices, chosen)
    first_night = period_cost(MeteredPeriod(after, QUARTER_HOURLY, D(1)), prices, chosen)
    assert last_spot is not None
    assert first_night is not None
    assert (last_spot.spot_price_eur_mwh, last_spot.energy_c_per_kwh) == (D(50), D("5.49"))
    assert (first_night.spot_price_eur_mwh, first_night.energy_c_per_kwh) == (None, D("6.00"))


def test_a_negative_market_price_gives_negative_energy_and_negative_energy_vat():
    # 2023-01-10: VAT 10 % on energy, 24 % on network. Spot -20 EUR/MWh = -2.00 c/kWh.
    cost = period_cost(
        hour("2023-01-10T12:00+02:00"),
        hourly_price("2023-01-10T12:00+02:00", "-20"),
        terms(start="2022-06-01"),
    )
    assert cost is not None
    assert cost.energy_c_per_kwh == D("-1.51")  # -2.00 + 0.49
    assert cost.energy_eur == D("-0.0151")  # 1 kWh * -1.51 / 100
    assert cost.transfer_eur == D("0.029")
    assert cost.tax_eur == D("0.02253")
    assert cost.vat_eur == D("0.0108572")  # 10 % * -0.0151 + 24 % * (0.029 + 0.02253)
    assert cost.total_eur == D("0.0472872")  # -0.0151 + 0.029 + 0.02253 + 0.0108572


def test_production_sells_at_the_market_price_less_the_margin_negative_prices_included():
    chosen = parse_terms(
        {"production_contracts": [{"from": "2025-01-01", "margin_c_per_kwh": "0.30"}]}, HELSINKI
    )
    when = "2025-07-01T13:00+03:00"
    sold = period_cost(hour(when, "2", "production"), hourly_price(when, "55"), chosen)
    paid = period_cost(hour(when, "2", "production"), hourly_price(when, "-20"), chosen)
    assert sold is not None
    assert paid is not None
    assert sold.energy_c_per_kwh == D("5.20")  # 55 / 10 - 0.30
    assert sold.energy_eur == sold.total_eur == D("0.104")  # 2 kWh * 5.20 / 100, no VAT
    assert (sold.transfer_eur, sold.tax_eur, sold.vat_eur) == (0, 0, 0)
    assert paid.energy_c_per_kwh == D("-2.30")  # -20 / 10 - 0.30
    assert paid.energy_eur == paid.total_eur == D("-0.046")  # 2 * -2.30 / 100: you pay
    # consumption terms do not cost production, nor production terms consumption
    assert period_cost(hour(when, "2"), hourly_price(when, "55"), chosen) is None
    assert period_cost(hour(when, "2", "production"), hourly_price(when, "55"), terms()) is None


def test_an_hour_takes_the_mean_of_its_four_quarter_prices_and_needs_all_four():
    start = at("2025-10-20T12:00+03:00")
    quarter_prices = {
        start.replace(minute=minute): SpotPrice(QUARTER_HOURLY, D(price))
        for minute, price in ((0, "40"), (15, "60"), (30, "80"), (45, "100.5"))
    }
    cost = period_cost(MeteredPeriod(start, HOURLY, D("1.2")), quarter_prices, terms())
    assert cost is not None
    assert cost.spot_price_eur_mwh == D("70.125")  # (40 + 60 + 80 + 100.5) / 4
    assert cost.energy_c_per_kwh == D("7.5025")  # 7.0125 + 0.49
    assert cost.energy_eur == D("0.09003")  # 1.2 * 7.5025 / 100
    del quarter_prices[start.replace(minute=30)]
    three = period_cost(MeteredPeriod(start, HOURLY, D("1.2")), quarter_prices, terms())
    assert three is not None
    assert not three.priced


def test_a_quarter_hour_takes_its_hours_price_before_the_15_minute_market():
    prices = {
        **hourly_price("2025-09-30T12:00+03:00", "55.5"),
        # 2025-10-01 00:00-01:00 local (21:00Z) still has one hourly price; quarters from 22:00Z
        **hourly_price("2025-10-01T00:00+03:00", "31.37"),
        GO_LIVE: SpotPrice(QUARTER_HOURLY, D("12.5")),
    }
    assert spot_price(at("2025-09-30T12:15+03:00"), QUARTER_HOURLY, prices) == D("55.5")
    assert spot_price(at("2025-10-01T00:45+03:00"), QUARTER_HOURLY, prices) == D("31.37")
    assert spot_price(GO_LIVE, QUARTER_HOURLY, prices) == D("12.5")  # its own price
    assert spot_price(at("2025-10-01T01:15+03:00"), QUARTER_HOURLY, prices) is None
    # an hourly meter's first hour of October takes the hourly price, the next the quarters' mean
    assert spot_price(at("2025-10-01T00:00+03:00"), HOURLY, prices) == D("31.37")
    quarters = {
        GO_LIVE.replace(minute=minute): SpotPrice(QUARTER_HOURLY, D(price))
        for minute, price in ((0, "20"), (15, "30"), (30, "40"), (45, "50"))
    }
    assert spot_price(GO_LIVE, HOURLY, quarters) == D(35)  # (20 + 30 + 40 + 50) / 4
    cost = period_cost(quarter("2025-09-30T12:15+03:00", "0.2"), prices, terms())
    assert cost is not None
    assert cost.energy_c_per_kwh == D("6.04")  # 5.55 + 0.49
    assert cost.energy_eur == D("0.01208")  # 0.2 * 6.04 / 100


@dataclass(frozen=True)
class Price:
    """A price as the prices module keeps it: with its start."""

    start: datetime
    resolution: str
    eur_mwh: Decimal


def test_a_price_is_anything_with_a_resolution_and_eur_mwh():
    start = at("2025-10-20T12:00+03:00")
    prices = {start: Price(start, HOURLY, D("70.5"))}
    assert spot_price(start, HOURLY, prices) == D("70.5")
    assert spot_price(start + QUARTER, QUARTER_HOURLY, prices) == D("70.5")


def test_a_missing_price_leaves_the_period_unpriced_with_every_euro_field_null():
    cost = period_cost(quarter("2025-10-16T12:00+03:00", "0.3"), {}, terms())
    assert cost is not None
    assert not cost.priced
    record = cost.record("1234567")
    assert record["priced"] is False
    assert {name: value for name, value in record.items() if name.endswith("_eur")} == {
        "energy_eur": None,
        "transfer_eur": None,
        "tax_eur": None,
        "vat_eur": None,
        "total_eur": None,
    }
    assert (record["spot_price_eur_mwh"], record["energy_c_per_kwh"]) == (None, None)
    assert (record["transfer_c_per_kwh"], record["tax_c_per_kwh"]) == (2.9, 2.253)
    assert record["kwh"] == 0.3
    # a fixed price needs no market price
    fixed = period_cost(quarter("2025-10-16T12:00+03:00", "0.3"), {}, terms("fixed"))
    assert fixed is not None
    assert fixed.priced
    assert fixed.energy_eur == D("0.027")  # 0.3 * 9.00 / 100


def test_a_period_before_the_terms_is_not_costed_at_all():
    chosen = terms(start="2025-10-15")
    assert period_cost(quarter("2025-10-14T23:45+03:00"), {}, chosen) is None
    assert period_cost(quarter("2025-10-15T00:00+03:00"), {}, chosen) is not None


def test_day_sums_survive_the_state_exactly():
    day = DayCosts(96, 95, D("9.125"), D("0.1000000001"), D("0.26"), D("0.2"), D("-0.01"))
    assert DayCosts.from_state(day.to_state()) == day
    assert day.to_state() == [96, 95, "9.125", "0.1000000001", "0.26", "0.2", "-0.01"]


WORKED = terms("spot", "general")
AFTER_OCTOBER = at("2025-11-10T12:00+02:00")


def _october_2025() -> dict[date, DayCosts]:
    """The README's worked example: a quarter-hour meter, 0.15 kWh a quarter 07-22 local, 0.10
    at night; spot 80 EUR/MWh by day and 30 at night, hourly before the 15-minute market."""
    prices = hourly_price("2025-10-01T00:00+03:00", "30")  # the last hourly price, 21:00Z
    periods: dict[date, list[MeteredPeriod]] = {}
    for day in month_days(date(2025, 10, 1)):
        periods[day] = []
        for period in day_grid(day, HELSINKI, QUARTERS):
            by_day = 7 <= period.start.astimezone(HELSINKI).hour < 22
            if period.start >= GO_LIVE:
                prices[period.start] = SpotPrice(QUARTER_HOURLY, D(80) if by_day else D(30))
            kwh = D("0.15") if by_day else D("0.10")
            periods[day].append(MeteredPeriod(period.start, QUARTER_HOURLY, kwh))
    costs = {day: [period_cost(p, prices, WORKED) for p in each] for day, each in periods.items()}
    return {day: DayCosts.of(c for c in each if c is not None) for day, each in costs.items()}


def test_the_worked_example_month_across_the_15_minute_go_live():
    days = _october_2025()
    bill = month_bill("consumption", date(2025, 10, 1), days, WORKED, QUARTERS, AFTER_OCTOBER)
    assert bill is not None
    # 31 days * 96 quarter hours + 4 on the fall day = 2980: 31 * 60 = 1860 by day, 1120 at night
    assert (bill.expected_periods, bill.periods, bill.priced_periods) == (2980, 2980, 2980)
    assert bill.kwh == D("391.00")  # 1860 * 0.15 + 1120 * 0.10 = 279 + 112
    assert bill.energy_eur == D("27.5959")  # 279 * (8.00 + 0.49) / 100 + 112 * (3.00 + 0.49) / 100
    assert bill.energy_fee_eur == D("3.90")
    assert bill.transfer_eur == D("11.339")  # 391 * 2.90 / 100
    assert bill.transfer_fee_eur == D("7.50")
    assert bill.tax_eur == D("8.80923")  # 391 * 2.253 / 100
    # 25.5 % * (27.5959 + 3.90 + 11.339 + 7.50 + 8.80923) = 25.5 % * 59.14413
    assert bill.vat_eur == D("15.08175315")
    assert bill.total_eur == D("74.22588315")  # 59.14413 + 15.08175315
    assert bill.complete
    assert bill.month_start == at("2025-10-01T00:00+03:00")
    # the two bills of the README, each line rounded to cents as a bill does
    seller = bill.energy_eur + bill.energy_fee_eur  # 31.4959
    network = bill.transfer_eur + bill.transfer_fee_eur + bill.tax_eur  # 27.64823
    assert round(seller * D("1.255"), 2) == D("39.53")  # 31.4959 + 8.0314545
    assert round(network * D("1.255"), 2) == D("34.70")  # 27.64823 + 7.05029865


def test_the_bill_record_has_the_contract_fields():
    days = _october_2025()
    bill = month_bill("consumption", date(2025, 10, 1), days, WORKED, QUARTERS, AFTER_OCTOBER)
    assert bill is not None
    assert bill.record("1234567", "consumption") == {
        "metering_point": "1234567",
        "kind": "consumption",
        "month": "2025-10",
        "month_start": "2025-09-30T21:00:00+00:00",
        "kwh": 391.0,
        "energy_eur": 27.5959,
        "energy_fee_eur": 3.9,
        "transfer_eur": 11.339,
        "transfer_fee_eur": 7.5,
        "tax_eur": 8.80923,
        "vat_eur": 15.08175315,
        "total_eur": 74.22588315,
        "expected_periods": 2980,
        "periods": 2980,
        "priced_periods": 2980,
        "complete": True,
    }


def test_a_contract_replaced_mid_month_pays_its_share_of_the_days():
    chosen = parse_terms(
        {
            "energy_contracts": [
                {"from": "2025-01-01", **ENERGY["fixed"]},  # 3.90 EUR a month
                {"from": "2025-10-15", **ENERGY["time_of_day"]},  # 4.50 EUR a month
            ],
            "network_tariffs": [{"from": "2025-01-01", **NETWORK["general"]}],  # 7.50 EUR
        },
        HELSINKI,
    )
    bill = month_bill(
        "consumption", date(2025, 10, 1), {}, chosen, QUARTERS, at("2025-11-10T00:00+02:00")
    )
    assert bill is not None
    assert bill.energy_fee_eur == D("131.10") / 31  # (3.90 * 14 + 4.50 * 17) / 31 days
    assert bill.transfer_fee_eur == D("7.50")
    # 25.5 % of each: 131.10 * 0.255 / 31 + 7.50 * 0.255
    assert bill.vat_eur == D("33.4305") / 31 + D("1.9125")
    assert not bill.complete  # no meter values at all


def test_a_contract_starting_mid_month_bills_from_its_first_day():
    chosen = terms("time_of_day", "general", start="2025-10-15")  # fees 4.50 and 7.50 EUR
    days = {date(2025, 10, 15): DayCosts(96, 96, D(10), D(1), D("0.29"), D("0.2253"), D("0.38"))}
    bill = month_bill(
        "consumption", date(2025, 10, 1), days, chosen, QUARTERS, at("2025-11-10T00:00+02:00")
    )
    assert bill is not None
    assert bill.expected_periods == 1636  # 17 days from the 15th: 16 * 96 + 100 (the fall day)
    assert bill.energy_fee_eur == D("76.50") / 31  # 4.50 * 17 days / 31
    assert bill.transfer_fee_eur == D("127.50") / 31  # 7.50 * 17 / 31
    assert bill.kwh == D(10)
    assert bill.energy_eur == D(1)
    assert (bill.periods, bill.priced_periods) == (96, 96)
    assert bill.vat_eur == D("0.38") + D("76.50") * D("0.255") / 31 + D("127.50") * D("0.255") / 31


def test_a_vat_change_inside_a_month_splits_the_fees_vat_by_days():
    chosen = parse_terms(
        {
            "energy_contracts": [
                {"from": "2025-01-01", "type": "fixed", "price_c_per_kwh": 9, "monthly_fee_eur": 3}
            ],
            "network_tariffs": [
                {"from": "2025-01-01", "type": "general", "c_per_kwh": 3, "monthly_fee_eur": 6}
            ],
            "vat": [
                {"from": "2013-01-01", "energy_percent": 24, "network_percent": 24},
                {"from": "2025-06-16", "energy_percent": "25.5", "network_percent": "25.5"},
            ],
        },
        HELSINKI,
    )
    bill = month_bill(
        "consumption", date(2025, 6, 1), {}, chosen, None, at("2025-07-02T00:00+03:00")
    )
    assert bill is not None
    assert (bill.energy_fee_eur, bill.transfer_fee_eur) == (D(3), D(6))
    # June: 15 days at 24 %, 15 at 25.5 %: 3.00 * (15 * 24 + 15 * 25.5) / (100 * 30) = 0.7425,
    # 6.00 * the same = 1.485
    assert bill.vat_eur == D("0.7425") + D("1.485")
    assert bill.expected_periods == 720  # an hourly meter: 30 * 24


def test_a_running_month_counts_its_fees_up_to_today():
    bill = month_bill(
        "consumption", date(2025, 10, 1), {}, terms(), QUARTERS, at("2025-10-10T12:00+03:00")
    )
    assert bill is not None
    assert bill.energy_fee_eur == D(39) / 31  # 3.90 * 10 days / 31
    assert bill.transfer_fee_eur == D(75) / 31  # 7.50 * 10 / 31
    assert bill.expected_periods == 2980  # the whole month's grid
    assert not bill.complete


FEBRUARY = month_days(date(2025, 2, 1))
FULL = DayCosts(24, 24, D(12), D(1), D("0.348"), D("0.27036"), D("0.413"))


@pytest.mark.parametrize(
    ("days", "now", "complete"),
    [
        ({day: FULL for day in FEBRUARY}, "2025-03-01T00:00+02:00", True),  # just ended
        ({day: FULL for day in FEBRUARY}, "2025-02-28T23:59+02:00", False),  # still running
        ({day: FULL for day in FEBRUARY[1:]}, "2025-03-05T00:00+02:00", False),  # a day missing
        (
            {**{day: FULL for day in FEBRUARY}, FEBRUARY[9]: DayCosts(23, 23, D(11))},
            "2025-03-05T00:00+02:00",
            False,  # an hour without a value
        ),
        (
            {**{day: FULL for day in FEBRUARY}, FEBRUARY[9]: DayCosts(24, 23, D(12))},
            "2025-03-05T00:00+02:00",
            False,  # an hour without a price
        ),
    ],
)
def test_a_month_is_complete_once_ended_with_every_period_valued_and_priced(days, now, complete):
    bill = month_bill("consumption", date(2025, 2, 1), days, terms(), None, at(now))
    assert bill is not None
    assert bill.expected_periods == 672  # 28 * 24 hours
    assert bill.complete is complete


def test_february_sums_its_days_and_adds_the_fees_with_their_vat():
    bill = month_bill(
        "consumption",
        date(2025, 2, 1),
        dict.fromkeys(FEBRUARY, FULL),
        terms(),
        None,
        at("2025-03-05T00:00+02:00"),
    )
    assert isinstance(bill, MonthBill)
    assert bill.kwh == D(336)  # 28 * 12
    assert bill.energy_eur == D(28)  # 28 * 1
    assert bill.transfer_eur == D("9.744")  # 28 * 0.348
    assert bill.tax_eur == D("7.57008")  # 28 * 0.27036
    # the days' 28 * 0.413 = 11.564 plus 25.5 % of the fees 3.90 + 7.50 = 2.907
    assert bill.vat_eur == D("14.471")
    # 28 + 3.90 + 9.744 + 7.50 + 7.57008 + 14.471
    assert bill.total_eur == D("71.18508")


def test_production_months_have_no_fees_and_no_vat():
    chosen = parse_terms(
        {"production_contracts": [{"from": "2025-01-01", "margin_c_per_kwh": "0.30"}]}, HELSINKI
    )
    sold = DayCosts(24, 24, D(5), D("0.26"), D(0), D(0), D(0))
    bill = month_bill(
        "production",
        date(2025, 2, 1),
        dict.fromkeys(FEBRUARY, sold),
        chosen,
        None,
        at("2025-03-05T00:00+02:00"),
    )
    assert bill is not None
    assert (bill.energy_fee_eur, bill.transfer_fee_eur, bill.vat_eur) == (0, 0, 0)
    assert bill.energy_eur == bill.total_eur == D("7.28")  # 28 * 0.26
    assert bill.complete
    # and no consumption bill without consumption terms
    assert (
        month_bill("consumption", date(2025, 2, 1), {}, chosen, None, at("2025-03-05T00:00+02:00"))
        is None
    )


def test_a_month_before_the_terms_has_no_bill():
    chosen = terms(start="2025-11-01")
    now = at("2025-12-01T00:00+02:00")
    assert month_bill("consumption", date(2025, 10, 1), {}, chosen, QUARTERS, now) is None
    assert month_bill("consumption", date(2025, 11, 1), {}, chosen, QUARTERS, now) is not None
