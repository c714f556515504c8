"""Elering's day-ahead prices (no key): ``GET {elering_url}/api/nps/price?start=…&end=…``.
The answer's shape and its quirks: docs/prices.md#elering."""

from __future__ import annotations

import json
import typing as t
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import urlencode

from typing_extensions import Self

from tap_wattivahti.prices.base import (
    MARKET_ZONE,
    QUARTER_HOURS_FROM,
    Asked,
    Conflict,
    Price,
    checked_request,
    settle,
)
from tap_wattivahti.resolution import HOURLY, QUARTER_HOURLY
from tap_wattivahti.timeutil import HOUR, QUARTER
from tap_wattivahti.transport import Unanswered

if t.TYPE_CHECKING:
    import requests

    from tap_wattivahti.settings import PriceSettings
    from tap_wattivahti.transport import Http

DEFAULT_URL = "https://dashboard.elering.ee"
PATH = "/api/nps/price"


class _Malformed(ValueError):
    """The answer is not the expected shape (the message says how)."""


class EleringSource:
    """Elering's public price API: Nord Pool day-ahead prices of FI, EE, LV and LT."""

    name: t.ClassVar[str] = "elering"
    #: A month: the longest local calendar month is 31 days and the hour the autumn DST adds.
    max_span: t.ClassVar[timedelta] = timedelta(days=31, hours=1)
    areas: t.ClassVar[tuple[str, ...]] = ("FI", "EE", "LV", "LT")

    def __init__(self, url: str, http: Http) -> None:
        """A source asking ``url`` (the ``elering_url`` setting) through ``http``."""
        self.url = url.rstrip("/")
        self.http = http

    @classmethod
    def area_code(cls, area: str) -> str | None:
        """Elering's key of ``area`` in its answer (lower case), None for an area it lacks."""
        return area.lower() if area in cls.areas else None

    @classmethod
    def known_areas(cls) -> str:
        """The ``price_area`` values Elering takes, for messages."""
        return f"{', '.join(cls.areas[:-1])} or {cls.areas[-1]}"

    @classmethod
    def from_settings(cls, settings: PriceSettings, http: Http) -> Self:
        """The source at ``elering_url``."""
        return cls(settings.elering_url, http)

    def fetch(self, area: str, start: datetime, stop: datetime) -> list[Price]:
        """Elering's prices for periods starting in ``[start, stop)``: one request."""
        key = checked_request(self, area, start, stop)
        # Both ends are inclusive at the source: what falls outside [start, stop) is dropped.
        params = {"start": _iso(start), "end": _iso(stop)}
        url = self.url + PATH
        asked = Asked("Elering", f"{url}?{urlencode(params)}", "elering_url", DEFAULT_URL)
        try:
            response = self.http.get(url, params, f"Elering price request ({area})")
        except Unanswered as failure:
            raise asked.unanswered(failure) from None
        if response.status_code >= 400:
            what_to_do = "Check the elering_url and price_area settings."
            raise asked.refused(response, response.text, what_to_do)
        try:
            return settle(_prices(response, key), start, stop)
        except (_Malformed, Conflict) as exc:
            raise asked.malformed(str(exc), response, response.text) from None


def _iso(instant: datetime) -> str:
    """An instant as Elering's clients send it: ``2025-10-25T21:00:00.000Z``."""
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _prices(response: requests.Response, key: str) -> list[Price]:
    """Every price of area ``key`` in the answer (not yet limited to the asked range)."""
    try:
        body = json.loads(response.text, parse_float=Decimal)
    except ValueError:
        raise _Malformed("an answer that is not JSON (an error page?)") from None
    if not isinstance(body, dict):
        raise _Malformed("JSON that is not an object")
    if body.get("success") is not True:
        raise _Malformed(f"success: {json.dumps(body.get('success'))}")
    data = body.get("data")
    if not isinstance(data, dict):
        raise _Malformed("JSON without a data object")
    rows = data.get(key, [])
    if not isinstance(rows, list):
        raise _Malformed(f"data.{key} that is not a list")
    amounts: dict[datetime, list[Decimal]] = defaultdict(list)
    for row in rows:
        instant, amount = _row(row, key)
        if amount is not None:  # a price of null is missing, never 0
            amounts[instant].append(amount)
    resolutions = _resolutions(sorted(amounts))
    return [
        Price(instant, resolutions[instant], amount)
        for instant, values in amounts.items()
        for amount in values
    ]


def _row(row: object, key: str) -> tuple[datetime, Decimal | None]:
    if not isinstance(row, dict):
        raise _Malformed(f"an entry of data.{key} that is not an object: {row!r}")
    stamp, price = row.get("timestamp"), row.get("price")
    if isinstance(stamp, bool) or not isinstance(stamp, int):
        raise _Malformed(f"an entry of data.{key} whose timestamp is not Unix seconds: {row!r}")
    if price is not None and (isinstance(price, bool) or not isinstance(price, (int, Decimal))):
        raise _Malformed(f"an entry of data.{key} whose price is not a number: {row!r}")
    if isinstance(price, Decimal) and not price.is_finite():
        raise _Malformed(f"an entry of data.{key} whose price is not a finite number: {row!r}")
    instant = datetime.fromtimestamp(stamp, timezone.utc)
    return instant, None if price is None else Decimal(price)


def _resolutions(instants: list[datetime]) -> dict[datetime, str]:
    """Each period's resolution, from the go-live and the answer's spacing.

    Before the go-live every price is hourly. From it, a market day's prices are quarter-hourly,
    unless every one of them (two at least) starts on a whole hour: then the day was served hourly.
    """
    days: dict[object, list[datetime]] = defaultdict(list)
    for instant in instants:
        days[instant.astimezone(MARKET_ZONE).date()].append(instant)
    resolutions: dict[datetime, str] = {}
    for day in days.values():
        on_hours = all(instant.timestamp() % HOUR.total_seconds() == 0 for instant in day)
        before = day[0] < QUARTER_HOURS_FROM
        if before and not on_hours:
            odd = next(i for i in day if i.timestamp() % HOUR.total_seconds())
            msg = f"a price at {odd.isoformat()}, off the hour, before the 15-minute go-live"
            raise _Malformed(msg)
        if not all(instant.timestamp() % QUARTER.total_seconds() == 0 for instant in day):
            odd = next(i for i in day if i.timestamp() % QUARTER.total_seconds())
            raise _Malformed(f"a price at {odd.isoformat()}, off the quarter hour")
        hourly = before or (on_hours and len(day) >= 2)
        resolutions.update(dict.fromkeys(day, HOURLY if hourly else QUARTER_HOURLY))
    return resolutions
