"""The README's "Check your bill": its example terms, and the bill the tests expect from them.

The end-to-end, dashboard and CSV tests configure the tap with the README's example terms (a spot
contract and a general network tariff) and compare what lands with :func:`expected_costs` and
:func:`expected_bill`: the cost lines computed here from the simulators' truth, with the bill's
arithmetic written out (kWh x (spot / 10 + margin) / 100 and so on), not with the tap's pricing
code. They hold for months with one electricity tax and one VAT rate: 2024-09 to 2025-12.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import yaml

from tests.price_simulators import TruePrice
from tests.readme import README
from tests.simulator import HELSINKI, local_midnight_utc

SECTION = "## Check your bill"
ZERO = Decimal(0)
#: The built-in class I electricity tax and the VAT rate from 2024-09-01 through 2025
#: (docs/prices-and-costs.md, "Built-in tables").
TAX_C_PER_KWH = Decimal("2.253")
VAT_PERCENT = Decimal("25.5")
SAME_RATES = (date(2024, 9, 1), date(2026, 1, 1))


def section() -> str:
    """The README's "Check your bill" section, its subsections included."""
    text = README.read_text(encoding="utf-8")
    return text.split(SECTION + "\n", 1)[1].split("\n## ", 1)[0]


def readme_terms() -> dict[str, list[dict[str, Any]]]:
    """The settings of the section's ```yaml block: energy_contracts and network_tariffs."""
    [block] = re.findall(r"```yaml\n(.*?)```", section(), flags=re.DOTALL)
    return yaml.safe_load(textwrap.dedent(block))


def terms_environment() -> dict[str, str]:
    """The README's terms as a user sets them in `.env` (JSON lists)."""
    return {f"TAP_WATTIVAHTI_{name.upper()}": json.dumps(v) for name, v in readme_terms().items()}


@dataclass(frozen=True)
class Terms:
    """The README's example: a spot contract and a general network tariff, all month long."""

    margin: Decimal
    energy_fee: Decimal
    transfer: Decimal
    transfer_fee: Decimal

    @classmethod
    def from_readme(cls) -> Terms:
        terms = readme_terms()
        [energy], [network] = terms["energy_contracts"], terms["network_tariffs"]
        assert (energy["type"], network["type"]) == ("spot", "general")
        amount = lambda entry, name: Decimal(str(entry[name]))  # noqa: E731
        return cls(
            amount(energy, "margin_c_per_kwh"),
            amount(energy, "monthly_fee_eur"),
            amount(network, "c_per_kwh"),
            amount(network, "monthly_fee_eur"),
        )


@dataclass(frozen=True)
class Lines:
    """One period's (or a sum of periods') cost lines in EUR, VAT excluded but in ``vat``."""

    kwh: Decimal
    energy: Decimal
    transfer: Decimal
    tax: Decimal
    vat: Decimal

    @property
    def total(self) -> Decimal:
        return self.energy + self.transfer + self.tax + self.vat


def lines(kwh: Decimal, eur_mwh: Decimal, terms: Terms) -> Lines:
    energy = kwh * (eur_mwh / 10 + terms.margin) / 100
    transfer = kwh * terms.transfer / 100
    tax = kwh * TAX_C_PER_KWH / 100
    return Lines(kwh, energy, transfer, tax, (energy + transfer + tax) * VAT_PERCENT / 100)


def total(costs: Iterable[Lines]) -> Lines:
    found = list(costs)
    return Lines(*(sum((getattr(c, f) for c in found), ZERO) for f in Lines.__dataclass_fields__))


def quarter_price(prices: Mapping[datetime, TruePrice], start: datetime) -> Decimal | None:
    """A quarter hour's market price: its own, else (before the 15-minute market) its hour's."""
    own = prices.get(start)
    if own is not None and own.resolution == "PT15MIN":
        return own.eur_mwh
    hour = prices.get(start.replace(minute=0))
    return hour.eur_mwh if hour is not None and hour.resolution == "PT1H" else None


def expected_costs(
    quarters: Mapping[datetime, int], prices: Mapping[datetime, TruePrice], terms: Terms
) -> dict[datetime, Lines | None]:
    """Quarter hour → its cost lines (``None``: no price), from the meter's Wh and the prices."""
    assert all(SAME_RATES[0] <= at.astimezone(HELSINKI).date() < SAME_RATES[1] for at in quarters)
    costs: dict[datetime, Lines | None] = {}
    for start, wh in quarters.items():
        price = quarter_price(prices, start)
        costs[start] = None if price is None else lines(Decimal(wh) / 1000, price, terms)
    return costs


def per_day(costs: Mapping[datetime, Lines | None]) -> dict[datetime, Lines]:
    """Local midnight (UTC) → the sums of the day's priced periods."""
    days: dict[date, list[Lines]] = {}
    for start, cost in costs.items():
        if cost is not None:
            days.setdefault(start.astimezone(HELSINKI).date(), []).append(cost)
    return {local_midnight_utc(day): total(found) for day, found in sorted(days.items())}


def per_hour(costs: Mapping[datetime, Lines | None]) -> dict[datetime, Lines]:
    """UTC hour → the sums of its priced quarter hours."""
    hours: dict[datetime, list[Lines]] = {}
    for start, cost in costs.items():
        if cost is not None:
            hours.setdefault(start.replace(minute=0), []).append(cost)
    return {hour: total(found) for hour, found in sorted(hours.items())}


def expected_bill(
    quarters: Mapping[datetime, int],
    prices: Mapping[datetime, TruePrice],
    month: date,
    terms: Terms,
) -> dict[str, Any]:
    """The ``monthly_bills`` fields of an ended local ``month`` of a 15-minute meter whose
    values are ``quarters`` (UTC start → Wh): the periods' sums, whole monthly fees and their
    VAT."""
    following = (month + timedelta(days=32)).replace(day=1)
    begin, end = local_midnight_utc(month), local_midnight_utc(following)
    inside = {at: wh for at, wh in quarters.items() if begin <= at < end}
    costs = expected_costs(inside, prices, terms)
    summed = total(cost for cost in costs.values() if cost is not None)
    vat = summed.vat + (terms.energy_fee + terms.transfer_fee) * VAT_PERCENT / 100
    expected = int((end - begin) / timedelta(minutes=15))
    priced = sum(cost is not None for cost in costs.values())
    return {
        "month": month.strftime("%Y-%m"),
        "month_start": begin,
        "kwh": Decimal(sum(inside.values())) / 1000,
        "energy_eur": summed.energy,
        "energy_fee_eur": terms.energy_fee,
        "transfer_eur": summed.transfer,
        "transfer_fee_eur": terms.transfer_fee,
        "tax_eur": summed.tax,
        "vat_eur": vat,
        "total_eur": summed.total
        + terms.energy_fee
        + terms.transfer_fee
        + (terms.energy_fee + terms.transfer_fee) * VAT_PERCENT / 100,
        "expected_periods": expected,
        "periods": len(inside),
        "priced_periods": priced,
        "complete": priced == len(inside) == expected,
    }


def as_read(bill: dict[str, Any]) -> dict[str, Any]:
    """An :func:`expected_bill` as InfluxDB answers it: the amounts as floats, the month's start
    as epoch seconds (its ``time``)."""
    read: dict[str, Any] = {k: float(v) if isinstance(v, Decimal) else v for k, v in bill.items()}
    read["time"] = int(bill["month_start"].timestamp())
    del read["month_start"]
    return read
