"""The household's contract terms: the settings ``energy_contracts``, ``network_tariffs``,
``production_contracts``, ``electricity_tax`` and ``vat``, validated, and the built-in tax and
VAT tables.

Every setting is a list of dated entries: an entry is in force from local midnight of its
``from`` date until the next entry's ``from``; entries are in ascending order without duplicate
dates. Amounts exclude VAT and are kept exactly as configured (``Decimal`` through ``str``, so
``0.1`` stays 0.1). An entry names exactly the amounts its ``type`` uses: a missing one, and one
its type does not use (most likely a wrong ``type``), are errors. The rules and the sources of
the built-in figures are in docs/prices-and-costs.md. Everything here is pure.
"""

from __future__ import annotations

import re
import typing as t
from bisect import bisect_right
from dataclasses import dataclass, fields
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from itertools import pairwise

from tap_wattivahti.errors import TapWattiVahtiError

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from zoneinfo import ZoneInfo

CONSUMPTION = "consumption"
PRODUCTION = "production"
#: ``price_source`` value that turns market prices off (its setting is declared elsewhere).
NO_PRICES = "none"
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class SpotContract:
    """Energy at the market price plus a margin, and a monthly fee."""

    start: date
    margin_c_per_kwh: Decimal
    monthly_fee_eur: Decimal


@dataclass(frozen=True)
class FixedContract:
    """Energy at one fixed price, and a monthly fee."""

    start: date
    price_c_per_kwh: Decimal
    monthly_fee_eur: Decimal


@dataclass(frozen=True)
class TimeOfDayContract:
    """Energy at a day price (07:00 to 22:00 local) and a night price (the rest), and a fee."""

    start: date
    day_c_per_kwh: Decimal
    night_c_per_kwh: Decimal
    monthly_fee_eur: Decimal


@dataclass(frozen=True)
class GeneralTariff:
    """Network transfer at one price, and a monthly fee."""

    start: date
    c_per_kwh: Decimal
    monthly_fee_eur: Decimal


@dataclass(frozen=True)
class TimeOfDayTariff:
    """Network transfer at a day price (07:00 to 22:00 local, every day) and a night price."""

    start: date
    day_c_per_kwh: Decimal
    night_c_per_kwh: Decimal
    monthly_fee_eur: Decimal


@dataclass(frozen=True)
class SeasonalTariff:
    """Network transfer at a winter day price (November to March, Monday to Saturday 07:00 to
    22:00 local) and another price for the rest."""

    start: date
    winter_day_c_per_kwh: Decimal
    other_c_per_kwh: Decimal
    monthly_fee_eur: Decimal


@dataclass(frozen=True)
class ProductionContract:
    """What the buyer of produced energy pays: the market price less a margin (no VAT)."""

    start: date
    margin_c_per_kwh: Decimal


@dataclass(frozen=True)
class TaxRate:
    """Electricity tax (class I, strategic stockpile fee included) per kWh, VAT excluded."""

    start: date
    c_per_kwh: Decimal


@dataclass(frozen=True)
class VatRate:
    """VAT on the seller's part (energy and its fee) and on the network's (transfer, its fee,
    electricity tax)."""

    start: date
    energy_percent: Decimal
    network_percent: Decimal


EnergyContract = SpotContract | FixedContract | TimeOfDayContract
NetworkTariff = GeneralTariff | TimeOfDayTariff | SeasonalTariff
_Entry = t.TypeVar("_Entry", bound="_Dated")


class _Dated(t.Protocol):
    @property
    def start(self) -> date: ...


def _day(text: str) -> date:
    return date.fromisoformat(text)


#: Class I electricity tax by date; sources in docs/prices-and-costs.md#electricity-tax.
ELECTRICITY_TAX: tuple[TaxRate, ...] = (
    TaxRate(_day("2014-01-01"), Decimal("1.903")),
    TaxRate(_day("2015-01-01"), Decimal("2.253")),
    TaxRate(_day("2026-04-01"), Decimal("2.325")),
)
#: VAT by date; sources in docs/prices-and-costs.md#vat.
VAT: tuple[VatRate, ...] = (
    VatRate(_day("2013-01-01"), Decimal(24), Decimal(24)),
    VatRate(_day("2022-12-01"), Decimal(10), Decimal(24)),
    VatRate(_day("2023-05-01"), Decimal(24), Decimal(24)),
    VatRate(_day("2024-09-01"), Decimal("25.5"), Decimal("25.5")),
)


def in_force(entries: Sequence[_Entry], day: date) -> _Entry | None:
    """The entry in force on local ``day``: the last one that starts on or before it."""
    index = bisect_right(entries, day, key=lambda entry: entry.start)
    return entries[index - 1] if index else None


@dataclass(frozen=True)
class Terms:
    """All contract terms, with the time zone their dates and tariff hours are read in."""

    zone: ZoneInfo
    energy_contracts: tuple[EnergyContract, ...] = ()
    network_tariffs: tuple[NetworkTariff, ...] = ()
    production_contracts: tuple[ProductionContract, ...] = ()
    electricity_tax: tuple[TaxRate, ...] = ELECTRICITY_TAX
    vat: tuple[VatRate, ...] = VAT

    def configured(self, kind: str) -> bool:
        """Whether any terms for ``kind`` are configured (without them nothing is costed)."""
        if kind == PRODUCTION:
            return bool(self.production_contracts)
        return bool(self.energy_contracts and self.network_tariffs)

    def covers(self, kind: str, day: date) -> bool:
        """Whether ``kind``'s periods of local ``day`` are costed: an energy contract and a
        network tariff are in force (production: a production contract)."""
        if kind == PRODUCTION:
            return in_force(self.production_contracts, day) is not None
        energy = in_force(self.energy_contracts, day)
        return energy is not None and in_force(self.network_tariffs, day) is not None

    def needs_prices(self, kind: str) -> bool:
        """Whether costing ``kind`` needs market prices (a spot or production contract)."""
        if kind == PRODUCTION:
            return bool(self.production_contracts)
        return any(isinstance(contract, SpotContract) for contract in self.energy_contracts)


@dataclass(frozen=True)
class _Setting:
    """How one terms setting is read: its entry classes by ``type`` (``None``: no type field)."""

    name: str
    classes: Mapping[str | None, t.Any]
    example: str
    noun: str = "entry"

    def amount_names(self) -> list[str]:
        names: dict[str, None] = {}
        for cls in self.classes.values():
            names.update(dict.fromkeys(_amounts(cls)))
        return list(names)

    @property
    def keys(self) -> list[str]:
        typed = [] if None in self.classes else ["type"]
        return ["from", *typed, *self.amount_names()]


_ENERGY = _Setting(
    "energy_contracts",
    {"spot": SpotContract, "fixed": FixedContract, "time_of_day": TimeOfDayContract},
    '{"from": "2025-01-01", "type": "spot", "margin_c_per_kwh": 0.49, "monthly_fee_eur": 3.90}',
    "contract",
)
_NETWORK = _Setting(
    "network_tariffs",
    {"general": GeneralTariff, "time_of_day": TimeOfDayTariff, "seasonal": SeasonalTariff},
    '{"from": "2025-01-01", "type": "general", "c_per_kwh": 2.90, "monthly_fee_eur": 7.50}',
    "tariff",
)
_PRODUCTION = _Setting(
    "production_contracts",
    {None: ProductionContract},
    '{"from": "2025-01-01", "margin_c_per_kwh": 0.30}',
)
_TAX = _Setting("electricity_tax", {None: TaxRate}, '{"from": "2015-01-01", "c_per_kwh": 2.253}')
_VAT = _Setting(
    "vat",
    {None: VatRate},
    '{"from": "2024-09-01", "energy_percent": 25.5, "network_percent": 25.5}',
)
#: Amounts that may be below 0 (a seller may give a discount on the market price).
_MAY_BE_NEGATIVE = frozenset({"margin_c_per_kwh"})
_PERCENTS = frozenset({"energy_percent", "network_percent"})


def _amounts(cls: t.Any) -> list[str]:
    return [field.name for field in fields(cls) if field.name != "start"]


def parse_terms(values: Mapping[str, t.Any], zone: ZoneInfo) -> Terms:
    """The terms of the settings ``values`` (defaults applied); bad terms raise an error that
    names the setting, the entry and what to write instead."""
    energy = t.cast("tuple[EnergyContract, ...]", _parse(_ENERGY, values.get(_ENERGY.name)))
    network = t.cast("tuple[NetworkTariff, ...]", _parse(_NETWORK, values.get(_NETWORK.name)))
    production = t.cast(
        "tuple[ProductionContract, ...]", _parse(_PRODUCTION, values.get(_PRODUCTION.name))
    )
    tax = t.cast("tuple[TaxRate, ...]", _parse(_TAX, values.get(_TAX.name))) or ELECTRICITY_TAX
    vat = t.cast("tuple[VatRate, ...]", _parse(_VAT, values.get(_VAT.name))) or VAT
    terms = Terms(zone, energy, network, production, tax, vat)
    _check_prices(terms, str(values.get("price_source") or "elering"))
    _check_covered(_ENERGY, energy, _VAT, vat)
    _check_covered(_NETWORK, network, _VAT, vat)
    _check_covered(_NETWORK, network, _TAX, tax)
    return terms


def _parse(setting: _Setting, value: object) -> tuple[t.Any, ...]:
    if value is None or value == "" or value == []:
        return ()
    if not isinstance(value, (list, tuple)):
        msg = (
            f"The {setting.name} setting is {value!r}, not a list of entries: give it as a "
            f"list of objects, e.g. [{setting.example}]."
        )
        raise TapWattiVahtiError(msg)
    entries = [_entry(setting, number, entry) for number, entry in enumerate(value, start=1)]
    for number, (before, after) in enumerate(pairwise(entries), start=1):
        if after.start == before.start:
            msg = (
                f"Entries {number} and {number + 1} of the {setting.name} setting both start "
                f"on {after.start}: each date may have one entry (it is in force until the "
                f"next entry's from). Remove one of them."
            )
            raise TapWattiVahtiError(msg)
        if after.start < before.start:
            msg = (
                f"Entries {number} (from {before.start}) and {number + 1} (from {after.start}) "
                f"of the {setting.name} setting are out of date order: list the entries in "
                f"ascending order of from (each is in force until the next one's from)."
            )
            raise TapWattiVahtiError(msg)
    return tuple(entries)


def _entry(setting: _Setting, number: int, entry: object) -> t.Any:
    where = f"Entry {number} of the {setting.name} setting"
    if not isinstance(entry, dict):
        msg = (
            f"{where} is {entry!r}, not an object: give each entry as an object, e.g. "
            f"{setting.example}."
        )
        raise TapWattiVahtiError(msg)
    given = {key: value for key, value in entry.items() if value is not None}
    unknown = [key for key in given if key not in setting.keys]
    if unknown:
        msg = (
            f"{where} has the field {unknown[0]!r}, which {setting.name} entries do not have: "
            f"their fields are {', '.join(setting.keys)}."
        )
        raise TapWattiVahtiError(msg)
    start = _start(where, given.get("from"))
    where = f"{where} (from {start})"
    if None in setting.classes:
        cls, kind = setting.classes[None], "an entry"
    else:
        name = given.get("type")
        types = [str(name) for name in setting.classes]
        if name not in setting.classes:
            msg = (
                f"{where} has type {name!r}, which is not one of {', '.join(types)}: set type "
                f"to one of them (see docs/prices-and-costs.md)."
            )
            raise TapWattiVahtiError(msg)
        cls, kind = setting.classes[name], f"a {name} {setting.noun}"
    needed = _amounts(cls)
    missing = [name for name in needed if name not in given]
    if missing:
        msg = (
            f"{where} lacks {' and '.join(missing)}: {kind} needs {' and '.join(needed)} "
            f"(VAT excluded; a fee of 0 when there is none)."
        )
        raise TapWattiVahtiError(msg)
    unused = [name for name in setting.amount_names() if name in given and name not in needed]
    if unused:
        users = [
            str(other)
            for other, other_cls in setting.classes.items()
            if unused[0] in _amounts(other_cls)
        ]
        msg = (
            f"{where} gives {unused[0]}, which {kind} does not use: it takes "
            f"{' and '.join(needed)}. Remove {unused[0]}, or set the type that uses it "
            f"({' or '.join(users)})."
        )
        raise TapWattiVahtiError(msg)
    return cls(start=start, **{name: _amount(where, name, given[name]) for name in needed})


def _start(where: str, value: object) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value  # a YAML date
    if isinstance(value, str) and _DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    msg = (
        f"{where} has from {value!r}, which is not a local date YYYY-MM-DD: give the day the "
        f"terms take effect, e.g. 2025-10-01."
    )
    raise TapWattiVahtiError(msg)


def _amount(where: str, name: str, value: object) -> Decimal:
    unit = "percent" if name in _PERCENTS else "EUR" if name.endswith("_eur") else "c/kWh"
    number: Decimal | None = None
    if isinstance(value, (int, float, Decimal, str)) and not isinstance(value, bool):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = None
    if number is None or not number.is_finite():
        msg = (
            f"{where} has {name} {value!r}, which is not a number: give the amount in {unit}, "
            f"VAT excluded, as a number such as 2.90 (with a point, not a comma)."
        )
        raise TapWattiVahtiError(msg)
    if number < 0 and name not in _MAY_BE_NEGATIVE:
        msg = (
            f"{where} has {name} {value!r}, a negative amount: every amount but a margin is 0 "
            f"or more (a fee of 0 when there is none)."
        )
        raise TapWattiVahtiError(msg)
    if name in _PERCENTS and number > 100:
        msg = f"{where} has {name} {value!r}: a VAT rate is a percent from 0 to 100, e.g. 25.5."
        raise TapWattiVahtiError(msg)
    return number


def _check_prices(terms: Terms, price_source: str) -> None:
    if price_source != NO_PRICES:
        return
    for number, contract in enumerate(terms.energy_contracts, start=1):
        if isinstance(contract, SpotContract):
            msg = (
                f"Entry {number} of the energy_contracts setting (from {contract.start}) is a "
                f"spot contract, but the price_source setting is none, so there are no market "
                f"prices to price it with: set price_source to elering (the default) or "
                f"entsoe, or describe the contract as fixed or time_of_day."
            )
            raise TapWattiVahtiError(msg)
    if terms.production_contracts:
        msg = (
            f"The production_contracts setting is set (from "
            f"{terms.production_contracts[0].start}), but the price_source setting is none: "
            f"production is sold at the market price, so set price_source to elering (the "
            f"default) or entsoe, or remove production_contracts."
        )
        raise TapWattiVahtiError(msg)


def _check_covered(
    setting: _Setting, entries: Sequence[_Dated], rates: _Setting, table: Sequence[_Dated]
) -> None:
    """The first entry of ``setting`` must not start before the first entry of ``rates``."""
    if entries and entries[0].start < table[0].start:
        msg = (
            f"Entry 1 of the {setting.name} setting starts on {entries[0].start}, before the "
            f"first {rates.name} entry ({table[0].start}), so the {rates.name} of those days "
            f"is unknown: give the {rates.name} setting an entry from {entries[0].start} or "
            f"earlier (your bill states the rate; the setting replaces the built-in table "
            f"whole, so list every rate since then, see docs/prices-and-costs.md), or start "
            f"{setting.name} later."
        )
        raise TapWattiVahtiError(msg)
