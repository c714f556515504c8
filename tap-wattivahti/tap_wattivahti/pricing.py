"""What each metered period cost, and a month's bill, from the contract terms and market prices.

:func:`period_cost` turns one metered period into the fields of a ``costs`` record;
:class:`DayCosts` sums one local day of them; :func:`month_bill` folds a month's days (and its
monthly fees) into the fields of a ``monthly_bills`` record. The rules are in
docs/prices-and-costs.md. Money is ``Decimal`` throughout, from the amounts exactly as configured,
kWh and EUR/MWh exactly as given: every step is exact except a prorated monthly fee (a share of
the month's days, kept to 28 significant digits). A missing price is never 0: its period is
unpriced and every euro field of it is ``None``.

A stream keeps, per metering point and kind, the day sums of every month that may still change
(the months that the settlement window or a run's range touches), so a changed day re-folds its
month without history::

    {"bill_days": {"2025-10-01": [96, 95, "12.000", "0.7308", "0.3480", "0.27036", "0.339"]}}

(:meth:`DayCosts.to_state`), plus what it needs anyway to see whether a month changed (e.g. a
fingerprint of the last emitted bill per such month) and where the meter's 15-minute values
begin (``quarters_from``, for the month's grid). Days of a month that no longer changes are
dropped once its bill is emitted.
"""

from __future__ import annotations

import typing as t
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from tap_wattivahti.resolution import HOURLY, QUARTER_HOURLY
from tap_wattivahti.terms import (
    CONSUMPTION,
    PRODUCTION,
    FixedContract,
    GeneralTariff,
    SpotContract,
    TimeOfDayContract,
    TimeOfDayTariff,
    in_force,
)
from tap_wattivahti.timeutil import QUARTER, day_grid, local_midnight

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from zoneinfo import ZoneInfo

    from tap_wattivahti.terms import (
        EnergyContract,
        NetworkTariff,
        ProductionContract,
        Terms,
        VatRate,
    )

ZERO = Decimal(0)
#: Tariff day hours, local time: 07:00 up to 22:00.
DAY_HOURS = range(7, 22)
#: Months of the seasonal tariff's winter: November to March.
WINTER_MONTHS = frozenset({11, 12, 1, 2, 3})


class MarketPrice(t.Protocol):
    """A market price as the prices module gives it: its period's resolution (``PT15MIN`` |
    ``PT1H``) and EUR/MWh, VAT excluded."""

    @property
    def resolution(self) -> str: ...

    @property
    def eur_mwh(self) -> Decimal: ...


class SpotPrice(t.NamedTuple):
    """A :class:`MarketPrice` on its own (for callers and tests without the prices module)."""

    resolution: str
    eur_mwh: Decimal


class MeteredPeriod(t.NamedTuple):
    """One meter value: its start (UTC), ``PT15MIN`` | ``PT1H``, kWh, consumption or production.

    A named tuple, as :class:`PeriodCost`: a backfill makes one of each per period, and a named
    tuple is made in about a third of the time of a frozen dataclass."""

    start: datetime
    resolution: str
    kwh: Decimal
    kind: str = CONSUMPTION


class PeriodCost(t.NamedTuple):
    """One period's cost lines (unit prices in c/kWh, amounts in EUR, VAT excluded but in
    ``vat_eur``); the euro fields are ``None`` when a needed price is missing."""

    period: MeteredPeriod
    spot_price_eur_mwh: Decimal | None
    energy_c_per_kwh: Decimal | None
    transfer_c_per_kwh: Decimal
    tax_c_per_kwh: Decimal
    energy_eur: Decimal | None = None
    transfer_eur: Decimal | None = None
    tax_eur: Decimal | None = None
    vat_eur: Decimal | None = None
    total_eur: Decimal | None = None

    @property
    def priced(self) -> bool:
        """Whether every price the period needs was there."""
        return self.total_eur is not None

    def record(self, metering_point: str) -> dict[str, t.Any]:
        """The ``costs`` record (numbers as floats at this edge only)."""
        period, spot, unit = self.period, self.spot_price_eur_mwh, self.energy_c_per_kwh
        energy, transfer, tax, vat, total = (
            self.energy_eur,
            self.transfer_eur,
            self.tax_eur,
            self.vat_eur,
            self.total_eur,
        )
        return {
            "metering_point": metering_point,
            "kind": period.kind,
            "timestamp": period.start.isoformat(),
            "resolution": period.resolution,
            "kwh": float(period.kwh),
            "spot_price_eur_mwh": None if spot is None else float(spot),
            "energy_c_per_kwh": None if unit is None else float(unit),
            "transfer_c_per_kwh": float(self.transfer_c_per_kwh),
            "tax_c_per_kwh": float(self.tax_c_per_kwh),
            "energy_eur": None if energy is None else float(energy),
            "transfer_eur": None if transfer is None else float(transfer),
            "tax_eur": None if tax is None else float(tax),
            "vat_eur": None if vat is None else float(vat),
            "total_eur": None if total is None else float(total),
            "priced": total is not None,
        }


def spot_price(
    start: datetime, resolution: str, prices: Mapping[datetime, MarketPrice]
) -> Decimal | None:
    """The market price (EUR/MWh) of the period at ``start``, or ``None`` when it is missing.

    ``prices`` maps a price period's UTC start to its price. A quarter hour
    takes its own price, else its hour's hourly price (before the 15-minute market); an hour
    takes its hourly price, else the mean of its four quarter-hour prices (all four needed).
    """
    own = prices.get(start)
    if own is not None and own.resolution == resolution:
        return own.eur_mwh
    if resolution == QUARTER_HOURLY:
        hour = prices.get(start.replace(minute=0, second=0, microsecond=0))  # whole UTC hours
        return hour.eur_mwh if hour is not None and hour.resolution == HOURLY else None
    quarters = [prices.get(start + QUARTER * i) for i in range(4)]
    found = [q for q in quarters if q is not None and q.resolution == QUARTER_HOURLY]
    if len(found) == 4:
        return sum((q.eur_mwh for q in found), ZERO) / 4
    return None


def period_cost(
    period: MeteredPeriod, prices: Mapping[datetime, MarketPrice], terms: Terms
) -> PeriodCost | None:
    """The cost lines of ``period`` under the terms in force at its start, or ``None`` when it
    is not costed at all (no energy contract or no network tariff in force; production: no
    production contract): the ``costs`` stream emits no record for it."""
    day = day_terms(terms, period.kind, period.start.astimezone(terms.zone).date())
    return None if day is None else day.cost(period, prices)


class DayTerms(t.Protocol):
    """The terms of one kind in force on one local day, looked up once for all of the day's
    periods (a period's terms are those of its start's local day)."""

    def cost(self, period: MeteredPeriod, prices: Mapping[datetime, MarketPrice]) -> PeriodCost:
        """The cost lines of ``period``, a period of this day."""
        ...


def day_terms(terms: Terms, kind: str, day: date) -> DayTerms | None:
    """The terms of ``kind`` on local ``day``; ``None`` when its periods are not costed."""
    if kind == PRODUCTION:
        contract = in_force(terms.production_contracts, day)
        return None if contract is None else _ProductionDay(contract)
    energy = in_force(terms.energy_contracts, day)
    network = in_force(terms.network_tariffs, day)
    if energy is None or network is None:
        return None
    tax = _rate(in_force(terms.electricity_tax, day), "electricity_tax", day).c_per_kwh
    vat = _rate(in_force(terms.vat, day), "vat", day)
    return _ConsumptionDay(terms.zone, energy, network, tax, vat)


@dataclass(frozen=True)
class _ProductionDay:
    contract: ProductionContract

    def cost(self, period: MeteredPeriod, prices: Mapping[datetime, MarketPrice]) -> PeriodCost:
        spot = spot_price(period.start, period.resolution, prices)
        if spot is None:
            return PeriodCost(period, None, None, ZERO, ZERO)
        unit = spot / 10 - self.contract.margin_c_per_kwh  # EUR/MWh → c/kWh is ÷ 10
        value = period.kwh * unit / 100
        return PeriodCost(period, spot, unit, ZERO, ZERO, value, ZERO, ZERO, ZERO, value)


@dataclass
class _ConsumptionDay:
    """What the day's terms fix for all of its periods is worked out once: whether the energy
    price is the market's, the transfer price when it does not depend on the hour, and whether
    any price does (only then is a period's local time needed)."""

    zone: ZoneInfo
    energy: EnergyContract
    network: NetworkTariff
    tax_c_per_kwh: Decimal
    vat: VatRate
    spot: bool = field(init=False)
    #: The transfer price of every period of the day; None when the tariff reads the hour.
    transfer: Decimal | None = field(init=False)
    by_hour: bool = field(init=False)

    def __post_init__(self) -> None:
        self.spot = isinstance(self.energy, SpotContract)
        flat = isinstance(self.network, GeneralTariff)
        self.transfer = self.network.c_per_kwh if flat else None
        self.by_hour = not flat or isinstance(self.energy, TimeOfDayContract)

    def cost(self, period: MeteredPeriod, prices: Mapping[datetime, MarketPrice]) -> PeriodCost:
        # The local time only when a price reads the hour; else the UTC start, which none reads.
        local = period.start.astimezone(self.zone) if self.by_hour else period.start
        tax = self.tax_c_per_kwh
        transfer = self.transfer
        if transfer is None:
            transfer = _transfer_price(self.network, local)
        spot = spot_price(period.start, period.resolution, prices) if self.spot else None
        unit = _energy_price(self.energy, local, spot)
        if unit is None:
            return PeriodCost(period, spot, None, transfer, tax)
        kwh = period.kwh
        energy_eur = kwh * unit / 100
        transfer_eur = kwh * transfer / 100
        tax_eur = kwh * tax / 100
        vat = self.vat
        vat_eur = (
            energy_eur * vat.energy_percent + (transfer_eur + tax_eur) * vat.network_percent
        ) / 100
        total = energy_eur + transfer_eur + tax_eur + vat_eur
        return PeriodCost(
            period, spot, unit, transfer, tax, energy_eur, transfer_eur, tax_eur, vat_eur, total
        )


def _energy_price(
    contract: EnergyContract, local: datetime, spot: Decimal | None
) -> Decimal | None:
    if isinstance(contract, SpotContract):
        return None if spot is None else spot / 10 + contract.margin_c_per_kwh
    if isinstance(contract, FixedContract):
        return contract.price_c_per_kwh
    return contract.day_c_per_kwh if local.hour in DAY_HOURS else contract.night_c_per_kwh


def _transfer_price(tariff: NetworkTariff, local: datetime) -> Decimal:
    if isinstance(tariff, GeneralTariff):
        return tariff.c_per_kwh
    if isinstance(tariff, TimeOfDayTariff):
        return tariff.day_c_per_kwh if local.hour in DAY_HOURS else tariff.night_c_per_kwh
    winter_day = local.month in WINTER_MONTHS and local.weekday() < 6 and local.hour in DAY_HOURS
    return tariff.winter_day_c_per_kwh if winter_day else tariff.other_c_per_kwh


_Rate = t.TypeVar("_Rate")


def _rate(rate: _Rate | None, setting: str, day: date) -> _Rate:
    if rate is None:  # parse_terms refuses terms that start before the first rate
        msg = f"No {setting} entry is in force on {day}."
        raise ValueError(msg)
    return rate


@dataclass(frozen=True)
class DayCosts:
    """One local day's costed periods of one metering point and kind, summed: what a month's
    bill is folded from, and what a stream keeps per day (:meth:`to_state`). The euro sums are
    of the priced periods; ``kwh`` is of all costed periods."""

    periods: int = 0
    priced_periods: int = 0
    kwh: Decimal = ZERO
    energy_eur: Decimal = ZERO
    transfer_eur: Decimal = ZERO
    tax_eur: Decimal = ZERO
    vat_eur: Decimal = ZERO

    @classmethod
    def of(cls, costs: Iterable[PeriodCost]) -> DayCosts:
        """The sums of ``costs`` (one local day's, each period once)."""
        periods = priced = 0
        kwh = energy = transfer = tax = vat = ZERO
        for cost in costs:
            periods += 1
            kwh += cost.period.kwh
            if not cost.priced:
                continue
            priced += 1
            energy += cost.energy_eur or ZERO
            transfer += cost.transfer_eur or ZERO
            tax += cost.tax_eur or ZERO
            vat += cost.vat_eur or ZERO
        return cls(periods, priced, kwh, energy, transfer, tax, vat)

    def to_state(self) -> list[int | str]:
        """The sums as JSON values that keep them exact (decimals as text)."""
        amounts = (self.kwh, self.energy_eur, self.transfer_eur, self.tax_eur, self.vat_eur)
        return [self.periods, self.priced_periods, *(str(amount) for amount in amounts)]

    @classmethod
    def from_state(cls, value: Sequence[t.Any]) -> DayCosts:
        """The sums :meth:`to_state` wrote."""
        periods, priced, *amounts = value
        return cls(int(periods), int(priced), *(Decimal(str(amount)) for amount in amounts))


@dataclass(frozen=True)
class MonthBill:
    """One local calendar month of one metering point and kind, month to date until it ends."""

    month: date
    month_start: datetime
    kwh: Decimal
    energy_eur: Decimal
    energy_fee_eur: Decimal
    transfer_eur: Decimal
    transfer_fee_eur: Decimal
    tax_eur: Decimal
    vat_eur: Decimal
    total_eur: Decimal
    expected_periods: int
    periods: int
    priced_periods: int
    complete: bool

    def record(self, metering_point: str, kind: str) -> dict[str, t.Any]:
        """The ``monthly_bills`` record (numbers as floats at this edge only)."""
        return {
            "metering_point": metering_point,
            "kind": kind,
            "month": self.month.strftime("%Y-%m"),
            "month_start": self.month_start.isoformat(),
            "kwh": float(self.kwh),
            "energy_eur": float(self.energy_eur),
            "energy_fee_eur": float(self.energy_fee_eur),
            "transfer_eur": float(self.transfer_eur),
            "transfer_fee_eur": float(self.transfer_fee_eur),
            "tax_eur": float(self.tax_eur),
            "vat_eur": float(self.vat_eur),
            "total_eur": float(self.total_eur),
            "expected_periods": self.expected_periods,
            "periods": self.periods,
            "priced_periods": self.priced_periods,
            "complete": self.complete,
        }


def month_of(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def month_days(month: date) -> list[date]:
    """Every date of the month that starts on ``month``."""
    following = (month + timedelta(days=32)).replace(day=1)
    return [month + timedelta(days=i) for i in range((following - month).days)]


def month_bill(
    kind: str,
    month: date,
    days: Mapping[date, DayCosts],
    terms: Terms,
    quarters_from: datetime | None,
    now: datetime,
) -> MonthBill | None:
    """The bill of ``kind`` for the local month starting on ``month``, month to date at ``now``.

    ``days`` holds the day sums the month has so far (others count as empty); ``quarters_from``
    is where the meter's 15-minute values begin (as for :func:`~tap_wattivahti.timeutil.
    day_grid`). ``None`` when no day of the month is costed. The month's grid is every period of
    its costed days; fees are prorated by the days each contract covers, up to ``now``'s day
    while the month runs, with VAT by each day's rate.
    """
    zone = terms.zone
    calendar = month_days(month)
    costed = [day for day in calendar if terms.covers(kind, day)]
    if not costed:
        return None
    month_stop = local_midnight(calendar[-1] + timedelta(days=1), zone)
    today = now.astimezone(zone).date()
    fee_days = [day for day in calendar if day <= today]
    summed = [days[day] for day in costed if day in days]
    kwh = sum((day.kwh for day in summed), ZERO)
    energy = sum((day.energy_eur for day in summed), ZERO)
    transfer = sum((day.transfer_eur for day in summed), ZERO)
    tax = sum((day.tax_eur for day in summed), ZERO)
    vat = sum((day.vat_eur for day in summed), ZERO)
    energy_fee = transfer_fee = ZERO
    if kind != PRODUCTION:
        energy_fee, energy_fee_vat = _fees(
            terms.energy_contracts, terms.vat, fee_days, len(calendar), energy=True
        )
        transfer_fee, transfer_fee_vat = _fees(
            terms.network_tariffs, terms.vat, fee_days, len(calendar), energy=False
        )
        vat += energy_fee_vat + transfer_fee_vat
    expected = sum(len(day_grid(day, zone, quarters_from)) for day in costed)
    periods = sum(day.periods for day in summed)
    priced = sum(day.priced_periods for day in summed)
    return MonthBill(
        month=month,
        month_start=local_midnight(month, zone),
        kwh=kwh,
        energy_eur=energy,
        energy_fee_eur=energy_fee,
        transfer_eur=transfer,
        transfer_fee_eur=transfer_fee,
        tax_eur=tax,
        vat_eur=vat,
        total_eur=energy + energy_fee + transfer + transfer_fee + tax + vat,
        expected_periods=expected,
        periods=periods,
        priced_periods=priced,
        complete=now >= month_stop and periods == expected and priced == expected,
    )


def _fees(
    contracts: Sequence[EnergyContract | NetworkTariff],
    vat: Sequence[VatRate],
    fee_days: Sequence[date],
    month_length: int,
    *,
    energy: bool,
) -> tuple[Decimal, Decimal]:
    """The monthly fees of ``fee_days`` (each day 1/``month_length`` of its contract's fee) and
    their VAT (each day at its own rate)."""
    shares: Counter[tuple[Decimal, Decimal]] = Counter()
    for day in fee_days:
        contract = in_force(contracts, day)
        if contract is None:
            continue
        rate = _rate(in_force(vat, day), "vat", day)
        percent = rate.energy_percent if energy else rate.network_percent
        shares[(contract.monthly_fee_eur, percent)] += 1
    fee = sum((amount * count for (amount, _), count in shares.items()), ZERO) / month_length
    fee_vat = sum(
        (amount * count * percent for (amount, percent), count in shares.items()), ZERO
    ) / (100 * month_length)
    return fee, fee_vat
