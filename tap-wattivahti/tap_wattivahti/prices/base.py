"""What every price source gives and promises: :class:`Price` and :class:`PriceSource`, and the
rules every source's answer is held to (:func:`settle`). Facts: docs/prices.md."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from typing_extensions import Self

from tap_wattivahti.errors import TapWattiVahtiError
from tap_wattivahti.resolution import HOURLY, QUARTER_HOURLY
from tap_wattivahti.timeutil import HOUR, QUARTER
from tap_wattivahti.transport import excerpt

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests

    from tap_wattivahti.settings import PriceSettings
    from tap_wattivahti.transport import Http, Unanswered

#: The first quarter-hour delivery day of the day-ahead market began here (2025-10-01 in CET);
#: every earlier period, the Finnish hour 2025-10-01 00:00 to 01:00 included, has an hourly price.
QUARTER_HOURS_FROM = datetime(2025, 9, 30, 22, tzinfo=timezone.utc)
LENGTHS = {QUARTER_HOURLY: QUARTER, HOURLY: HOUR}
#: The day-ahead market's delivery days are days in CET/CEST.
MARKET_ZONE = ZoneInfo("Europe/Brussels")


@dataclass(frozen=True)
class Price:
    """The day-ahead price of one period: its UTC start, ``PT15MIN`` or ``PT1H``, and EUR/MWh
    excluding VAT (may be negative)."""

    start: datetime
    resolution: str
    eur_mwh: Decimal

    @property
    def stop(self) -> datetime:
        """Where the period ends."""
        return self.start + LENGTHS[self.resolution]


class PriceSource(t.Protocol):
    """A day-ahead price source. A new one is one more module and one line in
    :data:`tap_wattivahti.prices.sources.SOURCES`."""

    #: The ``price_source`` setting's word for it, and the ``source`` of its records.
    name: t.ClassVar[str]
    #: The longest span one request may ask.
    max_span: t.ClassVar[timedelta]
    #: The ``price_area`` names it knows.
    areas: t.ClassVar[tuple[str, ...]]

    @classmethod
    def area_code(cls, area: str) -> str | None:
        """The source's own code for ``area`` (a ``price_area`` value), None if it has none."""
        ...

    @classmethod
    def known_areas(cls) -> str:
        """The ``price_area`` values it takes, for messages (``FI, EE, LV or LT``)."""
        ...

    @classmethod
    def from_settings(cls, settings: PriceSettings, http: Http) -> Self:
        """The source the ``settings`` name, asking through ``http``."""
        ...

    def fetch(self, area: str, start: datetime, stop: datetime) -> list[Price]:
        """Every price the source has for periods starting in ``[start, stop)`` (UTC, at most
        :attr:`max_span` long), in time order: one request (retried as :class:`Http` retries).
        A period without a price is left out, never 0. Raises ``TapWattiVahtiError`` on an
        answer that is not the expected shape, naming the source, the URL and what to do."""
        ...


class Conflict(ValueError):
    """An answer gives one period two different prices."""


def settle(prices: Iterable[Price], start: datetime, stop: datetime) -> list[Price]:
    """``prices`` as every source returns them: periods starting in ``[start, stop)`` only, in
    time order, a repeated period once; where quarter hours and an hourly price cover the same
    time, the quarter hours (the market's own resolution since the 15-minute go-live).

    Raises :class:`Conflict` when one period has two different prices.
    """
    kept: dict[tuple[datetime, str], Price] = {}
    for price in prices:
        if not start <= price.start < stop:
            continue
        same = kept.setdefault((price.start, price.resolution), price)
        if same.eur_mwh != price.eur_mwh:
            msg = (
                f"two prices for the {price.resolution} period starting {price.start.isoformat()}"
                f" ({same.eur_mwh} and {price.eur_mwh} EUR/MWh)"
            )
            raise Conflict(msg)
    quarters = {p.start for p in kept.values() if p.resolution == QUARTER_HOURLY}
    return sorted(
        (
            p
            for p in kept.values()
            if p.resolution == QUARTER_HOURLY
            or not any(p.start + QUARTER * i in quarters for i in range(4))
        ),
        key=lambda p: p.start,
    )


@dataclass(frozen=True)
class Asked:
    """One request to a source as messages show it: never with a secret."""

    #: The source's name for people, e.g. ``Elering``.
    source: str
    #: The URL with its query, less any secret.
    url: str
    #: The setting that holds the source's base URL.
    url_setting: str
    #: That setting's default.
    default_url: str

    def unanswered(self, failure: Unanswered) -> TapWattiVahtiError:
        """Every attempt failed (429, 5xx, dropped connection, timeout)."""
        return TapWattiVahtiError(
            f"{self.source} did not answer GET {self.url} {failure}. No price from it was "
            f"used and no bookmark moved past the prices it owes: run the tap again later. If "
            f"it keeps failing, check the {self.url_setting} setting (the default is "
            f"{self.default_url}), or set price_source to another source or to none."
        )

    def refused(
        self, response: requests.Response, text: str, what_to_do: str
    ) -> TapWattiVahtiError:
        """A 4xx that retrying cannot fix; ``text`` is what the answer says (less any secret)."""
        return TapWattiVahtiError(
            f"{self.source} refused GET {self.url}: HTTP {response.status_code} "
            f"{response.reason}: {excerpt(text)}. {what_to_do}"
        )

    def malformed(self, problem: str, response: requests.Response, text: str) -> TapWattiVahtiError:
        """An answer that is not the expected shape; ``text`` is the answer (less any secret)."""
        return TapWattiVahtiError(
            f"{self.source} answered GET {self.url} with {problem} (HTTP "
            f"{response.status_code}, {len(response.content)} bytes: {excerpt(text)}). No price "
            f"from this answer was used. Check the {self.url_setting} setting (the default is "
            f"{self.default_url}) and run the tap again later; report it if it persists."
        )


def checked_request(source: PriceSource, area: str, start: datetime, stop: datetime) -> str:
    """The source's code of ``area`` for a request of ``[start, stop)``; an unknown area is a
    clear error, a span longer than the source takes a bug (ValueError)."""
    code = source.area_code(area)
    if code is None:
        raise unknown_area(type(source), area)
    if stop - start > source.max_span:
        msg = f"one {source.name} request spans at most {source.max_span}, not {stop - start}"
        raise ValueError(msg)
    return code


def unknown_area(source: type[PriceSource], area: str) -> TapWattiVahtiError:
    """The ``price_area`` is not one the source has prices for."""
    return TapWattiVahtiError(
        f"The price_area setting {area!r} is not a bidding zone price_source {source.name} has "
        f"prices for: set price_area to {source.known_areas()}, or choose another price_source."
    )
