"""Simulators of the two day-ahead price sources: real HTTP servers that answer as docs/prices.md
says Elering and the ENTSO-E Transparency Platform answer.

Both serve one simulated market: deterministic prices (EUR/MWh with two decimals, some
negative, some exactly 0.00), hourly before the 15-minute go-live (2025-09-30T22:00Z) and per
quarter hour from it, with the DST days' 23 and 25 hours. Each market day (a CET day) appears at
its publication instant, ``publish_at`` CET on the day before, by the simulator's ``now``.
Tests steer them (faults, holes, duplicates, publication, token) through the simulator object
and read back its request log and its ground truth (:meth:`PriceSimulator.truth`).

* :class:`EleringSimulator`: ``GET /api/nps/price?start=…&end=…``; both ends inclusive (the
  period that ends at ``start`` and the one that starts at ``end`` are in the answer too);
  ``duplicates`` are served twice.
* :class:`EntsoeSimulator`: ``GET /api?securityToken=…&documentType=A44&…``; XML with curve type
  A03 (a point equal to the one before it is left out) or A01; a day in ``hourly_too`` also
  carries an hourly series beside its quarter hours; no data: an ``Acknowledgement_MarketDocument``
  with reason 999; more than a year asked: HTTP 400; a wrong token: HTTP 401.

Run one standalone with ``python -m tests.price_simulators elering --port 8766``.
"""

from __future__ import annotations

import argparse
import json
import socket
import threading
import zlib
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from time import sleep
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from tests.simulator import Fault, LoopbackService, RequestLogEntry

UTC = timezone.utc
CET = ZoneInfo("Europe/Brussels")
HOUR = timedelta(hours=1)
QUARTER = timedelta(minutes=15)
#: The first quarter-hour period of the day-ahead market.
GO_LIVE = datetime(2025, 9, 30, 22, tzinfo=UTC)
EIC_CODES = {
    "FI": "10YFI-1--------U",
    "EE": "10Y1001A1001A39I",
    "LV": "10YLV-1001A00074",
    "LT": "10YLT-1001A0008Q",
}
PUBLICATION_NS = "urn:iec62325.351:tc57wg16:451-3:publicationdocument:7:3"
ACKNOWLEDGEMENT_NS = "urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0"
GOOD_TOKEN = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"


def market_day(instant: datetime) -> date:
    """The market (CET) day a period starting at ``instant`` is delivered on."""
    return instant.astimezone(CET).date()


def market_midnight(day: date) -> datetime:
    """The UTC instant a market (CET) day begins."""
    return datetime(day.year, day.month, day.day, tzinfo=CET).astimezone(UTC)


def market_price(area: str, start: datetime, resolution: str) -> Decimal:
    """The simulated day-ahead price of one period, in EUR/MWh with two decimals.

    About one period in 60 is exactly 0.00 and one in 8 negative. Quarter hours often repeat
    the quarter before them, as real ones do, so curve A03 leaves points out.
    """
    noise = zlib.crc32(f"{area}/{start.timestamp():.0f}/{resolution}".encode())
    if resolution == "PT15MIN" and start.minute and noise % 5 < 2:
        return market_price(area, start - QUARTER, resolution)
    if noise % 60 == 0:
        return Decimal("0.00")
    cents = noise % 25000 - 2500 if noise % 8 == 0 else noise % 25000
    return Decimal(cents).scaleb(-2)


def market_resolution(start: datetime) -> str:
    """The market's resolution of a period starting at ``start``."""
    return "PT15MIN" if start >= GO_LIVE else "PT1H"


@dataclass(frozen=True)
class TruePrice:
    """One period of the simulated market: its resolution and price."""

    resolution: str
    eur_mwh: Decimal


class _Answer(Exception):
    def __init__(self, status: int, body: bytes, content_type: str, headers: dict[str, str]):
        super().__init__(status)
        self.status, self.body, self.content_type, self.headers = (
            status,
            body,
            content_type,
            headers,
        )


def _json(status: int, body: object) -> _Answer:
    return _Answer(status, json.dumps(body).encode(), "application/json; charset=utf-8", {})


def _xml(status: int, body: str) -> _Answer:
    return _Answer(status, body.encode(), "application/xml", {})


def _html(status: int, title: str) -> _Answer:
    page = f"<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1>"
    page += "<p>The server could not answer your request.</p></body></html>"
    return _Answer(status, page.encode(), "text/html; charset=utf-8", {})


@dataclass
class PriceSimulator(LoopbackService):
    """What both price simulators share: the market, publication, faults, the request log.

    Attributes tests may change while it runs: ``now`` (the simulator's clock, None: the real
    one), ``publish_at`` (the CET time of day at which the next market day's prices appear),
    ``missing`` (period starts the source has no price for: a hole), ``hourly_days`` (market days
    after the go-live served with hourly prices instead).
    """

    host: str = "127.0.0.1"
    port: int = 0
    now: datetime | None = None
    publish_at: time = time(14, 0)
    missing: set[datetime] = field(default_factory=set)
    hourly_days: set[date] = field(default_factory=set)
    request_log: list[RequestLogEntry] = field(default_factory=list)
    kind: ClassVar[str] = "prices"
    path: ClassVar[str] = "/"

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._faults: deque[Fault] = deque()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _handler(self)

    @property
    def url(self) -> str:
        """The value for the tap's ``elering_url`` (or ``entsoe_url``) setting."""
        return self.base_url

    # ----------------------------------------------------------------- faults and log
    def inject(self, *faults: Fault | str) -> None:
        """Queue faults; each is consumed by one later request, in order (see ``Fault``; here
        also ``html``: a 200 with an HTML page, and the source's own kinds)."""
        with self._lock:
            self._faults.extend(Fault(f, "any") if isinstance(f, str) else f for f in faults)

    def requests(self) -> list[RequestLogEntry]:
        """The requests answered so far, in order (the token left out of ``params``)."""
        with self._lock:
            return list(self.request_log)

    def take_fault(self) -> Fault | None:
        """The next queued fault, if any (consumed)."""
        with self._lock:
            return self._faults.popleft() if self._faults else None

    # ----------------------------------------------------------------- the market
    def clock(self) -> datetime:
        return (self.now or datetime.now(UTC)).astimezone(UTC)

    def published(self, day: date) -> bool:
        """Whether market ``day``'s prices have appeared by :meth:`clock`."""
        appears = datetime.combine(day - timedelta(days=1), self.publish_at, tzinfo=CET)
        return self.clock() >= appears

    def resolution(self, start: datetime) -> str:
        if start >= GO_LIVE and market_day(start) in self.hourly_days:
            return "PT1H"
        return market_resolution(start)

    def periods(self, start: datetime, stop: datetime) -> list[datetime]:
        """Every period start of the market in ``[start, stop)`` (UTC, from a whole quarter)."""
        start, stop = start.astimezone(UTC), stop.astimezone(UTC)  # UTC steps, DST or not
        instant = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0)
        starts: list[datetime] = []
        while instant < stop:
            step = QUARTER
            if self.resolution(instant) == "PT1H":
                if instant.minute:  # inside an hour that began before ``start``
                    instant = instant.replace(minute=0) + HOUR
                    continue
                step = HOUR
            if instant >= start:
                starts.append(instant)
            instant += step
        return starts

    def served(self, area: str, instant: datetime) -> TruePrice | None:
        """The price the source has now for the period starting at ``instant``, if any."""
        if instant in self.missing or not self.published(market_day(instant)):
            return None
        resolution = self.resolution(instant)
        return TruePrice(resolution, market_price(area, instant, resolution))

    def truth(self, area: str, start: datetime, stop: datetime) -> dict[datetime, TruePrice]:
        """Every price the source has now for periods starting in ``[start, stop)``."""
        prices = {instant: self.served(area, instant) for instant in self.periods(start, stop)}
        return {instant: price for instant, price in prices.items() if price is not None}

    def answer(self, params: dict[str, str]) -> _Answer:
        """The answer to a request of :attr:`path` (before faults)."""
        raise NotImplementedError

    def apply(self, fault: Fault, params: dict[str, str]) -> _Answer | None:
        """The answer a fault replaces the real one with (None: answer normally)."""
        if fault.kind == "delay":
            sleep(fault.seconds)
            return None
        if fault.kind == "html":
            return _html(200, "Service temporarily unavailable")
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        body = (fault.body or f"Simulated fault {fault.kind}").encode()
        return _Answer(int(fault.kind), body, "text/plain; charset=utf-8", headers)


@dataclass
class EleringSimulator(PriceSimulator):
    """Elering's ``/api/nps/price``; ``duplicates`` (period starts) are listed twice. Its own
    fault kind: ``refused`` (HTTP 200 with ``success: false``)."""

    duplicates: set[datetime] = field(default_factory=set)
    kind: ClassVar[str] = "elering"
    path: ClassVar[str] = "/api/nps/price"

    def answer(self, params: dict[str, str]) -> _Answer:
        try:
            start = _elering_time(params["start"])
            end = _elering_time(params["end"])
        except (KeyError, ValueError) as exc:
            return _json(400, {"success": False, "data": None, "messages": [f"bad range: {exc}"]})
        data: dict[str, list[dict[str, Any]]] = {}
        for area in EIC_CODES:
            rows = []
            # Both ends inclusive: a period touching [start, end] at either end is listed.
            for instant in self.periods(start - HOUR, end + QUARTER):
                price = self.served(area, instant)
                length = HOUR if self.resolution(instant) == "PT1H" else QUARTER
                if price is None or instant > end or instant + length < start:
                    continue
                row = {"timestamp": int(instant.timestamp()), "price": float(price.eur_mwh)}
                rows.extend([row, dict(row)] if instant in self.duplicates else [row])
            data[area.lower()] = rows
        return _json(200, {"success": True, "data": data})

    def apply(self, fault: Fault, params: dict[str, str]) -> _Answer | None:
        if fault.kind == "refused":
            return _json(200, {"success": False, "data": None, "messages": ["Internal error"]})
        return super().apply(fault, params)


def _elering_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return value.astimezone(UTC)


@dataclass
class EntsoeSimulator(PriceSimulator):
    """The Transparency Platform's ``/api`` for document A44. ``token`` is the one valid
    security token; ``curve_type`` A03 or A01; ``hourly_too``: market days after the go-live
    that also carry an hourly series (the mean of each hour's quarters). Its own fault kind:
    ``truncated`` (HTTP 200 with the document cut in half)."""

    token: str = GOOD_TOKEN
    curve_type: str = "A03"
    hourly_too: set[date] = field(default_factory=set)
    kind: ClassVar[str] = "entsoe"
    path: ClassVar[str] = "/api"

    @property
    def url(self) -> str:
        """The value for the tap's ``entsoe_url`` setting."""
        return self.base_url + self.path

    def answer(self, params: dict[str, str]) -> _Answer:
        if params.get("securityToken") != self.token:
            return _html(401, "401 Unauthorized")
        code = params.get("in_Domain", "")
        if params.get("documentType") != "A44" or params.get("out_Domain") != code:
            return _acknowledgement(400, "999", "Request is not valid for document type A44.")
        try:
            start = datetime.strptime(params["periodStart"], "%Y%m%d%H%M").replace(tzinfo=UTC)
            end = datetime.strptime(params["periodEnd"], "%Y%m%d%H%M").replace(tzinfo=UTC)
        except (KeyError, ValueError):
            return _acknowledgement(400, "999", "periodStart and periodEnd must be yyyyMMddHHmm.")
        if end > _a_year_after(start):
            return _acknowledgement(
                400,
                "999",
                f"Provided time interval ({start:%Y-%m-%dT%H:%MZ} - {end:%Y-%m-%dT%H:%MZ}) is "
                "larger than maximum allowed period 'P1Y' for 'ENERGY_PRICES_R3:XML' export.",
            )
        area = next((name for name, eic in EIC_CODES.items() if eic == code), None)
        series = [] if area is None else self._series(area, start, end)
        if not series:
            return _acknowledgement(
                200,
                "999",
                f"No matching data found for Data item ENERGY_PRICES [12.1.D] ({code}, "
                f"{code}) and interval {start:%Y-%m-%dT%H:%M:%S.000Z}/"
                f"{end:%Y-%m-%dT%H:%M:%S.000Z}.",
            )
        return _xml(200, _publication(code, start, end, series))

    def apply(self, fault: Fault, params: dict[str, str]) -> _Answer | None:
        if fault.kind == "truncated":
            answer = self.answer(params)
            return _Answer(200, answer.body[: len(answer.body) // 2], answer.content_type, {})
        return super().apply(fault, params)

    def _series(self, area: str, start: datetime, end: datetime) -> list[str]:
        """The TimeSeries elements of the market days overlapping ``[start, end)``."""
        series: list[str] = []
        day = market_day(start)
        while market_midnight(day) < end:
            if self.published(day):
                begin, stop = market_midnight(day), market_midnight(day + timedelta(days=1))
                prices = self.truth(area, begin, stop)
                for resolution in ("PT1H", "PT15MIN"):
                    runs = _runs({i: p for i, p in prices.items() if p.resolution == resolution})
                    if runs:
                        series.append(self._time_series(len(series) + 1, EIC_CODES[area], runs))
                if day in self.hourly_too and begin >= GO_LIVE:
                    runs = _runs(_hourly_means(prices))
                    series.append(self._time_series(len(series) + 1, EIC_CODES[area], runs))
            day += timedelta(days=1)
        return series

    def _time_series(
        self, number: int, code: str, runs: list[list[tuple[datetime, TruePrice]]]
    ) -> str:
        periods = "".join(self._period(run) for run in runs)
        return (
            f"<TimeSeries><mRID>{number}</mRID><auction.type>A01</auction.type>"
            f"<businessType>A62</businessType>"
            f'<in_Domain.mRID codingScheme="A01">{code}</in_Domain.mRID>'
            f'<out_Domain.mRID codingScheme="A01">{code}</out_Domain.mRID>'
            f"<contract_MarketAgreement.type>A01</contract_MarketAgreement.type>"
            f"<currency_Unit.name>EUR</currency_Unit.name>"
            f"<price_Measure_Unit.name>MWH</price_Measure_Unit.name>"
            f"<curveType>{self.curve_type}</curveType>{periods}</TimeSeries>"
        )

    def _period(self, run: list[tuple[datetime, TruePrice]]) -> str:
        resolution = run[0][1].resolution
        step = HOUR if resolution == "PT1H" else QUARTER
        points: list[str] = []
        previous: Decimal | None = None
        for position, (_, price) in enumerate(run, start=1):
            if not (self.curve_type == "A03" and price.eur_mwh == previous):
                points.append(
                    f"<Point><position>{position}</position>"
                    f"<price.amount>{price.eur_mwh}</price.amount></Point>"
                )
            previous = price.eur_mwh
        begin, stop = run[0][0], run[-1][0] + step
        return (
            f"<Period><timeInterval><start>{begin:%Y-%m-%dT%H:%MZ}</start>"
            f"<end>{stop:%Y-%m-%dT%H:%MZ}</end></timeInterval>"
            f"<resolution>{'PT60M' if resolution == 'PT1H' else 'PT15M'}</resolution>"
            f"{''.join(points)}</Period>"
        )


def _a_year_after(instant: datetime) -> datetime:
    try:
        return instant.replace(year=instant.year + 1)
    except ValueError:  # 29 February
        return instant.replace(year=instant.year + 1, day=28)


def _runs(prices: dict[datetime, TruePrice]) -> list[list[tuple[datetime, TruePrice]]]:
    """Prices in time order, split where a period is missing (each run is one ``Period``)."""
    runs: list[list[tuple[datetime, TruePrice]]] = []
    for instant, price in sorted(prices.items()):
        step = HOUR if price.resolution == "PT1H" else QUARTER
        if runs and runs[-1][-1][0] + step == instant:
            runs[-1].append((instant, price))
        else:
            runs.append([(instant, price)])
    return runs


def _hourly_means(prices: dict[datetime, TruePrice]) -> dict[datetime, TruePrice]:
    hours: dict[datetime, list[Decimal]] = {}
    for instant, price in prices.items():
        hours.setdefault(instant.replace(minute=0), []).append(price.eur_mwh)
    return {
        hour: TruePrice("PT1H", (sum(values, Decimal(0)) / 4).quantize(Decimal("0.01")))
        for hour, values in hours.items()
        if len(values) == 4
    }


def _acknowledgement(status: int, code: str, text: str) -> _Answer:
    now = datetime.now(UTC)
    return _xml(
        status,
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Acknowledgement_MarketDocument xmlns="{ACKNOWLEDGEMENT_NS}">'
        f"<mRID>{zlib.crc32(text.encode()):08x}</mRID><createdDateTime>{now:%Y-%m-%dT%H:%M:%SZ}"
        f"</createdDateTime>"
        f'<sender_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450'
        f"</sender_MarketParticipant.mRID>"
        f"<sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>"
        f'<receiver_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450'
        f"</receiver_MarketParticipant.mRID>"
        f"<receiver_MarketParticipant.marketRole.type>A39"
        f"</receiver_MarketParticipant.marketRole.type>"
        f"<received_MarketDocument.createdDateTime>{now:%Y-%m-%dT%H:%M:%SZ}"
        f"</received_MarketDocument.createdDateTime>"
        f"<Reason><code>{code}</code><text>{escape(text)}</text></Reason>"
        f"</Acknowledgement_MarketDocument>",
    )


def _publication(code: str, start: datetime, end: datetime, series: list[str]) -> str:
    now = datetime.now(UTC)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<Publication_MarketDocument xmlns="{PUBLICATION_NS}">'
        f"<mRID>{zlib.crc32(code.encode() + start.isoformat().encode()):08x}</mRID>"
        f"<revisionNumber>1</revisionNumber><type>A44</type>"
        f'<sender_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450'
        f"</sender_MarketParticipant.mRID>"
        f"<sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>"
        f'<receiver_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450'
        f"</receiver_MarketParticipant.mRID>"
        f"<receiver_MarketParticipant.marketRole.type>A33"
        f"</receiver_MarketParticipant.marketRole.type>"
        f"<createdDateTime>{now:%Y-%m-%dT%H:%M:%SZ}</createdDateTime>"
        f"<period.timeInterval><start>{start:%Y-%m-%dT%H:%MZ}</start>"
        f"<end>{end:%Y-%m-%dT%H:%MZ}</end></period.timeInterval>"
        f"{''.join(series)}</Publication_MarketDocument>"
    )


class _Dropped(Exception):
    """Close the connection without answering."""


def _handler(sim: PriceSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = f"{type(sim).__name__}/1.0"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet: the request log is the record."""

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            logged = {k: v for k, v in params.items() if k != "securityToken"}
            try:
                answer = self._answer(url.path, params)
            except _Dropped:
                sim._log(RequestLogEntry("GET", url.path, sim.kind, logged, -1))
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            # Logged before answering, so a client that has its answer finds it in the log.
            sim._log(RequestLogEntry("GET", url.path, sim.kind, logged, answer.status))
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.content_type)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            try:
                self.wfile.write(answer.body)
            except OSError:  # the client gave up and closed the connection
                self.close_connection = True

        def _answer(self, path: str, params: dict[str, str]) -> _Answer:
            if path != sim.path:
                return _html(404, "404 Not Found")
            fault = sim.take_fault()
            if fault is not None:
                if fault.kind == "drop":
                    raise _Dropped
                replaced = sim.apply(fault, params)
                if replaced is not None:
                    return replaced
            return sim.answer(params)

    return Handler


def main(argv: list[str] | None = None) -> None:
    """Run one simulator in the foreground and print where it listens."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", choices=["elering", "entsoe"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args(argv)
    kind = EleringSimulator if args.source == "elering" else EntsoeSimulator
    sim = kind(host=args.host, port=args.port).start()
    print(f"{kind.__name__} listening on {sim.base_url}", flush=True)
    print(f"  {args.source}_url: {sim.url}", flush=True)
    if isinstance(sim, EntsoeSimulator):
        print(f"  entsoe_token: {sim.token}", flush=True)
    try:
        while True:
            sleep(3600)
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":
    main()
