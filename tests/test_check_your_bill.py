"""The README's worked example ("Check your bill"): October 2025 with its terms, meter values and
market prices, computed through the tap's pricing code, gives every figure the README writes."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from tap_wattivahti.pricing import DayCosts, MeteredPeriod, SpotPrice, month_bill, period_cost
from tap_wattivahti.terms import CONSUMPTION, parse_terms

from tests.bills import readme_terms, section
from tests.simulator import HELSINKI, local_midnight_utc

UTC = timezone.utc
OCTOBER = date(2025, 10, 1)
QUARTER = timedelta(minutes=15)
DAY_KWH, NIGHT_KWH = Decimal("0.15"), Decimal("0.10")
DAY_PRICE, NIGHT_PRICE = Decimal(80), Decimal(30)  # EUR/MWh


def is_day(start: datetime) -> bool:
    return 7 <= start.astimezone(HELSINKI).hour < 22


def example_month():
    """The example's cost of every quarter hour of October 2025 and the month's bill."""
    begin, end = local_midnight_utc(OCTOBER), local_midnight_utc(date(2025, 11, 1))
    starts = [begin + QUARTER * i for i in range(int((end - begin) / QUARTER))]
    # The Finnish hour 00:00-01:00 of 1 October has one hourly price; the rest quarter hours.
    prices = {begin: SpotPrice("PT1H", NIGHT_PRICE)}
    for start in starts[4:]:
        prices[start] = SpotPrice("PT15MIN", DAY_PRICE if is_day(start) else NIGHT_PRICE)
    terms = parse_terms(readme_terms(), HELSINKI)
    costs = []
    for start in starts:
        kwh = DAY_KWH if is_day(start) else NIGHT_KWH
        cost = period_cost(MeteredPeriod(start, "PT15MIN", kwh, CONSUMPTION), prices, terms)
        assert cost is not None
        costs.append(cost)
    days: dict[date, list] = {}
    for cost in costs:
        days.setdefault(cost.period.start.astimezone(HELSINKI).date(), []).append(cost)
    sums = {day: DayCosts.of(found) for day, found in days.items()}
    now = datetime(2025, 11, 5, tzinfo=UTC)
    bill = month_bill(CONSUMPTION, OCTOBER, sums, terms, begin, now)
    assert bill is not None
    return costs, bill


def figures(text: str) -> list[Decimal]:
    """Every number in ``text`` (thousands separated by commas), in order."""
    return [Decimal(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)]


def example_table() -> dict[tuple[str, str], tuple[str, Decimal]]:
    """(bill, the line's first word) → the line and the figure the README computes for it."""
    rows = re.findall(r"^\| (seller|network) \| (.+?) \| (.+?) \|$", section(), re.MULTILINE)
    return {
        (bill, re.sub(r"\W", " ", line).split()[0]): (line, figures(value)[0])
        for bill, line, value in rows
    }


def test_the_worked_example_is_what_the_tap_computes():
    costs, bill = example_month()
    quarters = [c.period for c in costs]
    day = [p for p in quarters if is_day(p.start)]
    assert (len(quarters), len(day), len(quarters) - len(day)) == (2980, 1860, 1120)
    text = section()
    for said in ("2,980 quarter hours", "1,860 by day (279 kWh)", "1,120 at night (112 kWh)"):
        assert said in text

    spot = sum((c.period.kwh * c.spot_price_eur_mwh / 1000 for c in costs), Decimal(0))
    rate = Decimal("0.255")
    seller_net = bill.energy_eur + bill.energy_fee_eur
    network_net = bill.transfer_eur + bill.transfer_fee_eur + bill.tax_eur
    assert seller_net * rate + network_net * rate == bill.vat_eur  # both bills' VAT
    rows = example_table()
    assert {key: figure for key, (_, figure) in rows.items()} == {
        ("seller", "energy"): spot,
        ("seller", "margin"): bill.energy_eur - spot,
        ("seller", "monthly"): bill.energy_fee_eur,
        ("seller", "VAT"): seller_net * rate,
        ("seller", "total"): seller_net * (1 + rate),
        ("network", "transfer"): bill.transfer_eur,
        ("network", "monthly"): bill.transfer_fee_eur,
        ("network", "electricity"): bill.tax_eur,
        ("network", "VAT"): network_net * rate,
        ("network", "total"): network_net * (1 + rate),
    }
    # The VAT rows name the amounts they are 25.5 % of.
    assert figures(rows["seller", "VAT"][0]) == [Decimal("25.5"), seller_net]
    assert figures(rows["network", "VAT"][0]) == [Decimal("25.5"), network_net]
    assert seller_net * (1 + rate) + network_net * (1 + rate) == bill.total_eur

    record = text.split("`monthly_bills` record", 1)[1].split("\n\n", 1)[0]
    written = dict(re.findall(r"`(\w+)` (true|[\d.]+)", record))
    amounts = ("kwh", "energy_eur", "energy_fee_eur", "transfer_eur", "transfer_fee_eur")
    for name in (*amounts, "tax_eur", "vat_eur", "total_eur"):
        assert Decimal(written.pop(name)) == getattr(bill, name), name
    assert written == {"priced_periods": "2980", "complete": "true"}
    assert "`expected_periods`, `periods` and\n`priced_periods` 2980" in record
    assert (bill.expected_periods, bill.periods, bill.priced_periods) == (2980, 2980, 2980)
    assert bill.complete
