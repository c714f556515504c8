"""The ENTSO-E Transparency Platform's day-ahead prices (document A44; needs ``entsoe_token``).
The XML it answers, curve types, its limits and errors: docs/prices.md#entso-e."""

from __future__ import annotations

import logging
import re
import typing as t
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from typing_extensions import Self, override

from tap_wattivahti.errors import TapWattiVahtiError
from tap_wattivahti.prices.base import LENGTHS, Asked, Conflict, Price, checked_request, settle
from tap_wattivahti.resolution import HOURLY, QUARTER_HOURLY
from tap_wattivahti.transport import Unanswered

if t.TYPE_CHECKING:
    import xml.etree.ElementTree as ElementTree

    from tap_wattivahti.settings import PriceSettings
    from tap_wattivahti.transport import Http

DEFAULT_URL = "https://web-api.tp.entsoe.eu/api"
#: The bidding zones the ``price_area`` setting may name; any EIC code is taken as it is.
EIC_CODES = {
    "FI": "10YFI-1--------U",
    "EE": "10Y1001A1001A39I",
    "LV": "10YLV-1001A00074",
    "LT": "10YLT-1001A0008Q",
}
_EIC = re.compile(r"[0-9]{2}[A-Z][0-9A-Z-]{13}")
_RESOLUTIONS = {"PT60M": HOURLY, "PT15M": QUARTER_HOURLY}
_TOKEN_PARAMETER = "securityToken"  # noqa: S105 - the name of a parameter
_NO_DATA = "no matching data found"
_DAY_AHEAD = "A01"


class _Malformed(ValueError):
    """The answer is not the expected shape (the message says how)."""


class EntsoeSource:
    """ENTSO-E's day-ahead prices of any bidding zone, by EIC code."""

    name: t.ClassVar[str] = "entsoe"
    max_span: t.ClassVar[timedelta] = timedelta(days=365)  # the API takes at most a year
    areas: t.ClassVar[tuple[str, ...]] = tuple(EIC_CODES)

    def __init__(self, url: str, token: str, http: Http) -> None:
        """A source asking ``url`` (``entsoe_url``) with ``token`` (``entsoe_token``)."""
        self.url = url.rstrip("/")
        self.token = token
        self.http = http
        _hide_tokens_in_debug_logs()

    @classmethod
    def area_code(cls, area: str) -> str | None:
        """The EIC code of ``area``: a named zone's, or ``area`` itself when it is one."""
        return EIC_CODES.get(area) or (area if _EIC.fullmatch(area) else None)

    @classmethod
    def known_areas(cls) -> str:
        """The ``price_area`` values ENTSO-E takes, for messages."""
        return f"{', '.join(cls.areas)} or a bidding zone's 16-character EIC code"

    @classmethod
    def from_settings(cls, settings: PriceSettings, http: Http) -> Self:
        """The source at ``entsoe_url`` with ``entsoe_token`` (the settings require one)."""
        return cls(settings.entsoe_url, settings.entsoe_token or "", http)

    def fetch(self, area: str, start: datetime, stop: datetime) -> list[Price]:
        """ENTSO-E's prices for periods starting in ``[start, stop)``: one request."""
        code = checked_request(self, area, start, stop)
        shown = {
            "documentType": "A44",
            "in_Domain": code,
            "out_Domain": code,
            "periodStart": _period(start),
            "periodEnd": _period(stop),
            "contract_MarketAgreement.type": _DAY_AHEAD,
        }
        asked = Asked("ENTSO-E", f"{self.url}?{urlencode(shown)}", "entsoe_url", DEFAULT_URL)
        params = {_TOKEN_PARAMETER: self.token, **shown}
        try:
            response = self.http.get(self.url, params, f"ENTSO-E price request ({area})")
        except Unanswered as failure:
            raise asked.unanswered(failure) from None
        text = response.text.replace(self.token, "***") if self.token else response.text
        if response.status_code == 401:
            msg = (
                f"ENTSO-E refused the security token for GET {asked.url} (HTTP 401 "
                f"Unauthorized). {HOW_TO_AUTHENTICATE}"
            )
            raise TapWattiVahtiError(msg)
        # Imported here: loading the XML parser takes about 30 ms of CPU, which every start of
        # the tap would pay (twice an hour: Meltano's discovery, the sync); only ENTSO-E's
        # answers are XML.
        import xml.etree.ElementTree as ElementTree

        try:
            root = ElementTree.fromstring(response.content)  # noqa: S314 - see docs/prices.md
        except ElementTree.ParseError as exc:
            if response.status_code >= 400:
                raise asked.refused(response, text, _CHECK_AREA) from None
            raise asked.malformed(f"XML that does not parse ({exc})", response, text) from None
        ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
        if root.tag == ns + "Acknowledgement_MarketDocument":
            code_text = root.findtext(f"{ns}Reason/{ns}code", "").strip()
            reason = root.findtext(f"{ns}Reason/{ns}text", "").strip()
            if code_text == "999" and _NO_DATA in reason.lower():
                return []  # no prices for the range (yet): not an error
            raise asked.refused(response, f"reason {code_text}: {reason}", _CHECK_AREA)
        if response.status_code >= 400:
            raise asked.refused(response, text, _CHECK_AREA)
        if root.tag != ns + "Publication_MarketDocument":
            problem = f"a {root.tag.removeprefix(ns)} instead of a Publication_MarketDocument"
            raise asked.malformed(problem, response, text)
        try:
            return settle(_prices(root, ns), start, stop)
        except (_Malformed, Conflict) as exc:
            raise asked.malformed(str(exc), response, text) from None


HOW_TO_AUTHENTICATE = (
    "Set the entsoe_token setting (TAP_WATTIVAHTI_ENTSOE_TOKEN, or ENTSOE_TOKEN in the Meltano "
    "project) to your ENTSO-E Transparency Platform security token: register at "
    "transparency.entsoe.eu, ask for Restful API access, then generate the token under My "
    "Account Settings. Or set price_source to elering, which needs no token."
)
_CHECK_AREA = "Check the price_area and entsoe_url settings."


def _period(instant: datetime) -> str:
    """An instant as ENTSO-E's ``periodStart``/``periodEnd``: ``yyyyMMddHHmm`` in UTC."""
    return instant.astimezone(timezone.utc).strftime("%Y%m%d%H%M")


def _instant(text: str | None, what: str) -> datetime:
    try:
        value = datetime.fromisoformat((text or "").strip().replace("Z", "+00:00"))
    except ValueError:
        raise _Malformed(f"a {what} that is not an ISO 8601 time: {text!r}") from None
    if value.tzinfo is None:
        raise _Malformed(f"a {what} without a time zone: {text!r}")
    return value.astimezone(timezone.utc)


def _prices(root: ElementTree.Element, ns: str) -> list[Price]:
    """Every day-ahead price of the document (not yet limited to the asked range)."""
    prices: list[Price] = []
    for series in root.iter(f"{ns}TimeSeries"):
        contract = series.findtext(f"{ns}contract_MarketAgreement.type")
        if contract not in (None, _DAY_AHEAD):
            continue  # another auction's prices (an intraday auction): not day-ahead
        currency = series.findtext(f"{ns}currency_Unit.name")
        unit = series.findtext(f"{ns}price_Measure_Unit.name")
        if (currency, unit) != ("EUR", "MWH"):
            raise _Malformed(f"prices in {currency} per {unit}, not EUR per MWH")
        fill = series.findtext(f"{ns}curveType", "A01") == "A03"
        for period in series.iter(f"{ns}Period"):
            prices.extend(_period_prices(period, ns, fill=fill))
    return prices


def _period_prices(period: ElementTree.Element, ns: str, *, fill: bool) -> list[Price]:
    """One ``Period``'s prices; with ``fill`` (curve A03), each omitted position takes the price
    of the position before it, up to the period's end."""
    begin = _instant(period.findtext(f"{ns}timeInterval/{ns}start"), "period start")
    end = _instant(period.findtext(f"{ns}timeInterval/{ns}end"), "period end")
    sent = period.findtext(f"{ns}resolution")
    resolution = _RESOLUTIONS.get((sent or "").strip())
    if resolution is None:
        raise _Malformed(f"a period of resolution {sent!r} (PT60M or PT15M expected)")
    step = LENGTHS[resolution]
    count, rest = divmod(end - begin, step)
    if rest or count <= 0:
        raise _Malformed(f"a period from {begin} to {end}, not a whole number of {sent}")
    amounts: dict[int, Decimal] = {}
    for point in period.iter(f"{ns}Point"):
        position_text, amount_text = (
            point.findtext(f"{ns}position"),
            point.findtext(f"{ns}price.amount"),
        )
        try:
            position = int(position_text or "")
            amount = Decimal((amount_text or "").strip())
        except (ValueError, InvalidOperation):
            raise _Malformed(f"a point {position_text!r} with price {amount_text!r}") from None
        if not 1 <= position <= count or not amount.is_finite():
            raise _Malformed(f"a point {position} with price {amount_text!r} in {count} positions")
        amounts[position] = amount
    prices: list[Price] = []
    last: Decimal | None = None
    for position in range(1, count + 1):
        amount = amounts.get(position, last if fill else None)
        if amount is not None:
            prices.append(Price(begin + (position - 1) * step, resolution, amount))
        last = amount
    return prices


class _HideTokens(logging.Filter):
    """Masks ``securityToken=…`` in a log record (urllib3 logs request URLs at DEBUG)."""

    _TOKEN = re.compile(rf"({_TOKEN_PARAMETER}=)[^&\s\"]+")

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message without the token; keep the record."""
        message = record.getMessage()
        if _TOKEN_PARAMETER in message:
            record.msg, record.args = self._TOKEN.sub(r"\1***", message), None
        return True


def _hide_tokens_in_debug_logs() -> None:
    """Keep the token out of urllib3's DEBUG log of each request (once per process)."""
    logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, _HideTokens) for f in logger.filters):
        logger.addFilter(_HideTokens())
