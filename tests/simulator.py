"""A WattiVahti API simulator: a real HTTP server that behaves as docs/wattivahti-api.md says.

It serves, on one loopback port:

* the Azure AD B2C token endpoint (refresh grant with rotation, authorization-code grant with PKCE),
* the B2C login pages (authorize page with ``SETTINGS``/``SA_FIELDS``, ``SelfAsserted``,
  ``confirmed``),
* ``meterdata2`` for consumption (measurementType 1) and production (6).

Values are deterministic integers of watt-hours per quarter hour, so every total is exact; an
hourly value is the sum of its four quarter hours. Each metering point belongs to one account
(a WattiVahti login, ``default`` unless told otherwise) with its own chain of rotating refresh
tokens; an access token reads only its own account's metering points. Tests steer it (fault
injection, data availability, token expiry) through the :class:`Simulator` object and read back
its request log and its ground truth. Run it standalone with
``python -m tests.simulator --port 8765``.
"""

from __future__ import annotations

import argparse
import base64
import functools
import hashlib
import html
import json
import secrets
import select
import socket
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

from typing_extensions import Self

HELSINKI = ZoneInfo("Europe/Helsinki")
UTC = timezone.utc
QUARTER = timedelta(minutes=15)
HOUR = timedelta(hours=1)

TENANT = "pesv.onmicrosoft.com"
POLICY = "B2C_1_Tunnistus_SignInv2"
CLIENT_ID = "84ebdb93-9ea6-42c7-bd7d-302abf7556fa"
API_SCOPE = "https://pesv.onmicrosoft.com/salpa/customer.read openid profile offline_access"
LOGIN_SCOPE = "offline_access openid profile"
REDIRECT_URI = "https://www.wattivahti.fi/wattivahti/"
TOKEN_PATH = f"/{TENANT}/{POLICY.lower()}/oauth2/v2.0/token"
AUTHORIZE_PATH = f"/{TENANT}/{POLICY.lower()}/oauth2/v2.0/authorize"
TENANT_PATH = f"/{TENANT}/{POLICY}"
API_PATH = "/api/onlineapi/v1"
B2C_API = "CombinedSigninAndSignup"

CONSUMPTION = 1
PRODUCTION = 6

# The bill of 2025-10-26 for the seed metering point (docs/wattivahti-api.md): 100 values that
# sum to 24.510 kWh; the repeated 03 hour's first and second occurrences.
SEED_METERING_POINT = "1234567"
FALL_DAY_2025 = date(2025, 10, 26)
FALL_DAY_2025_TOTAL_WH = 24510
FALL_DAY_2025_FIRST_WH = (102, 98, 101, 108)
FALL_DAY_2025_SECOND_WH = (116, 96, 106, 93)


@dataclass
class MeteringPoint:
    """One simulated metering point.

    ``switch_date`` is the local date from which 15-minute values exist (hourly only before it);
    ``history_start`` is the local date of the first value at all; ``spot`` adds a ``spotdata``
    block to the answers; ``switch_at`` (a UTC instant) moves the switch off local midnight;
    ``account`` is the login whose tokens may read it.
    """

    code: str
    switch_date: date = date(2023, 1, 1)
    history_start: date = date(2015, 1, 1)
    production: bool = False
    spot: bool = False
    switch_at: datetime | None = None
    account: str = "default"

    def history_start_utc(self) -> datetime:
        return local_midnight_utc(self.history_start)

    def switch_utc(self) -> datetime:
        if self.switch_at is not None:
            return self.switch_at.astimezone(UTC)
        return local_midnight_utc(self.switch_date)


@dataclass
class Fault:
    """One injected fault, consumed by the next request of its ``target``.

    ``kind`` is one of ``429`` (with ``retry_after`` seconds when set), ``500``, ``502``, ``503``,
    ``drop`` (close the connection without an answer), ``malformed`` (a 200 with broken JSON),
    ``delay`` (sleep ``seconds`` before answering normally), ``stall`` (hold the request
    ``seconds`` before handling it, and drop it unhandled if the client has gone meanwhile, as a
    front end does that had not passed it on yet), ``trickle`` (answer normally, but
    send the body one byte every ``seconds``), or any other HTTP status as a string
    (answered with ``body`` when set, e.g. ``Fault("200", body='{"unexpected": {}}')``).
    ``target`` is ``meterdata``, ``token`` or ``any``; ``metering_point`` limits a meterdata
    fault to that metering point's requests.
    """

    kind: str
    target: str = "meterdata"
    retry_after: int | None = None
    seconds: float = 0.0
    body: str | None = None
    metering_point: str | None = None


@dataclass
class RequestLogEntry:
    method: str
    path: str
    kind: str
    params: dict[str, str]
    status: int
    #: When the answer was sent.
    at: float = field(default_factory=time.time)
    #: When the request arrived.
    received: float = 0.0
    #: The account whose token the request carried (refresh grants and meterdata).
    account: str | None = None


@dataclass
class _LoginTransaction:
    csrf: str
    challenge: str
    redirect_uri: str
    state: str
    #: The account of the user who signed in (None until then).
    account: str | None = None


def local_midnight_utc(day: date) -> datetime:
    """The UTC instant of local midnight in Helsinki at the start of ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=HELSINKI).astimezone(UTC)


def to_local_naive(instant: datetime) -> datetime:
    """The naive Helsinki wall-clock time of an aware instant."""
    return instant.astimezone(HELSINKI).replace(tzinfo=None)


def parse_api_time(text: str) -> datetime:
    """Parse a ``start``/``stop`` parameter: with an offset as given, naive as Helsinki time.

    A naive time in the fall's repeated hour means its first occurrence; one inside the spring
    gap is read with the winter offset (03:30 means 01:30 UTC, shown as 04:30 after the jump).
    """
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        return value.astimezone(UTC)
    return value.replace(tzinfo=HELSINKI, fold=0).astimezone(UTC)


def _floor_quarter(instant: datetime) -> datetime:
    return instant.replace(minute=instant.minute - instant.minute % 15, second=0, microsecond=0)


def _ceil(instant: datetime, step: timedelta) -> datetime:
    """The first period start (a multiple of ``step`` in UTC) at or after ``instant``."""
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    periods = -((epoch - instant) // step)
    return epoch + periods * step


def _format_quantity(wh: int) -> float | int:
    """kWh as the API sends it: a JSON integer when whole (``0``), else a float with 3 decimals."""
    if wh % 1000 == 0:
        return wh // 1000
    return round(wh / 1000, 3)


class LoopbackService:
    """A simulated service: an HTTP server on a loopback port (``port`` 0: a free one), started
    and stopped by the test (or used as a context manager)."""

    host: str
    port: int
    request_log: list[RequestLogEntry]
    _lock: threading.RLock
    _server: ThreadingHTTPServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class serving this service."""
        raise NotImplementedError

    def start(self) -> Self:
        self._server = ThreadingHTTPServer((self.host, self.port), self.handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def clear_log(self) -> None:
        with self._lock:
            self.request_log.clear()

    def _log(self, entry: RequestLogEntry) -> None:
        with self._lock:
            self.request_log.append(entry)


class Simulator(LoopbackService):
    """The simulated WattiVahti service. Start it with :meth:`start`, stop it with :meth:`stop`.

    Attributes tests may change while it runs: ``available_until`` (UTC instant; quarter hours
    starting at or after it have ``null`` quantities; ``None`` means "up to the last full quarter
    hour before now"), ``access_token_lifetime`` (``expires_in`` seconds), ``strict_rotation``
    (a used refresh token stops working), ``metering_points``, ``missing`` (UTC quarter-hour
    instants whose quantities are ``null`` although later ones are not: a hole in the history;
    the ground truth leaves them out; an hourly value covering one is ``null`` too), ``absent``
    (UTC quarter-hour instants left out of the answers altogether, and out of the answer's own
    ``sum``, which therefore agrees with what is listed; an hourly value covering one is left
    out too; the ground truth leaves them out), ``corrections`` (UTC quarter-hour instant → Wh:
    the operator's corrected value, served and counted in the ground truth instead of the
    generated one). ``missing``, ``absent`` and ``corrections`` apply to every metering point and
    measurement type. ``edit_values`` (a function applied to each answer's ``tsv`` list after the
    sum block was computed, to serve unexpected shapes). ``access_tokens``: which successful
    grants carry an ``access_token`` — ``"always"``, ``"resource"`` (only when the scope names an
    API, as Azure AD B2C answers: a grant for ``offline_access openid profile`` alone gets an
    ``id_token`` and a ``refresh_token`` but no access token) or ``"never"`` (a faulty answer).
    ``spring_labels``: how the answers label the spring-forward day's values — ``"clock"``
    (the wall clock: nothing at 03:00 to 03:59) or ``"shifted"`` (as a public client's fixture of a
    real 2023 answer does: the three hours after the jump labelled with the winter offset, so
    a value at the non-existent 03:00 and none at 06:00; docs/wattivahti-api.md).
    ``reuse_revokes_family``: presenting a used refresh token revokes every token of its account
    (as an authorization server may do against a replayed token). ``response_delay``: seconds
    every answer waits (a slow service). ``users``: username → (password, account) of the
    logins; the ``username``/``password`` arguments are the account ``default``'s.

    Values change after the fact, as operators' data do: a test fills a hole by removing
    its instant from ``missing`` or ``absent``, and corrects a value through ``corrections``.
    """

    def __init__(
        self,
        metering_points: list[MeteringPoint] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_token_lifetime: int = 3600,
        strict_rotation: bool = True,
        username: str = "user@example.com",
        password: str = "correct horse battery staple",
        available_until: datetime | None = None,
        access_tokens: str = "always",
        spring_labels: str = "clock",
        reuse_revokes_family: bool = False,
        response_delay: float = 0.0,
    ) -> None:
        points = metering_points or [MeteringPoint(SEED_METERING_POINT, spot=True)]
        self.metering_points: dict[str, MeteringPoint] = {mp.code: mp for mp in points}
        self.host = host
        self.port = port
        self.access_token_lifetime = access_token_lifetime
        self.strict_rotation = strict_rotation
        self.username = username
        self.password = password
        self.users: dict[str, tuple[str, str]] = {username: (password, "default")}
        self.available_until = available_until
        self.access_tokens = access_tokens
        self.spring_labels = spring_labels
        self.reuse_revokes_family = reuse_revokes_family
        self.response_delay = response_delay
        self.missing: set[datetime] = set()
        self.absent: set[datetime] = set()
        self.corrections: dict[datetime, int] = {}
        self.edit_values: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None
        self.request_log: list[RequestLogEntry] = []
        self._lock = threading.RLock()
        self._faults: deque[Fault] = deque()
        # token -> "valid" | "used" | "expired" | "revoked"
        self._refresh_tokens: dict[str, str] = {}
        self._token_accounts: dict[str, str] = {}  # refresh token -> its account
        # access token -> (expiry, scope, account)
        self._access_tokens: dict[str, tuple[float, str, str]] = {}
        self._codes: dict[str, _LoginTransaction] = {}
        self._transactions: dict[str, _LoginTransaction] = {}

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    @property
    def api_url(self) -> str:
        """The value for the tap's ``api_url`` setting."""
        return self.base_url + API_PATH

    @property
    def token_url(self) -> str:
        """The value for the tap's ``token_url`` setting."""
        return self.base_url + TOKEN_PATH

    def tap_config(self, **extra: Any) -> dict[str, Any]:
        """A tap config pointing at this simulator, with a fresh seed refresh token."""
        config: dict[str, Any] = {
            "metering_points": list(self.metering_points),
            "api_url": self.api_url,
            "token_url": self.token_url,
            "refresh_token": self.issue_refresh_token(),
        }
        config.update(extra)
        return config

    # ----------------------------------------------------------------- tokens
    def issue_refresh_token(self, account: str = "default") -> str:
        """A new valid refresh token of ``account``, as a login would give."""
        token = "rt-" + secrets.token_urlsafe(24)
        with self._lock:
            self._refresh_tokens[token] = "valid"
            self._token_accounts[token] = account
        return token

    def add_account(self, name: str, *codes: str, username: str | None = None) -> str:
        """A new account owning new metering points ``codes`` (and a login ``username`` with
        the default password); returns a fresh refresh token of it."""
        with self._lock:
            for code in codes:
                self.metering_points[code] = MeteringPoint(code, account=name)
            if username is not None:
                self.users[username] = (self.password, name)
        return self.issue_refresh_token(name)

    def account_of_token(self, token: str) -> str | None:
        """The account a refresh token belongs to."""
        with self._lock:
            return self._token_accounts.get(token)

    def refresh_grants(self, account: str | None = None, status: int = 200) -> list[str]:
        """The refresh tokens of ``account`` (every account: None) that refresh grants
        answered with ``status`` presented, in order."""
        tokens = [
            r.params.get("refresh_token", "")
            for r in self.requests("token")
            if r.params.get("grant_type") == "refresh_token" and r.status == status
        ]
        return [t for t in tokens if account is None or self.account_of_token(t) == account]

    def expire_refresh_token(self, token: str) -> None:
        with self._lock:
            self._refresh_tokens[token] = "expired"

    def refresh_token_status(self, token: str) -> str | None:
        with self._lock:
            return self._refresh_tokens.get(token)

    def valid_refresh_tokens(self, account: str | None = None) -> list[str]:
        """The valid refresh tokens of ``account`` (every account: None)."""
        with self._lock:
            return [
                t
                for t, s in self._refresh_tokens.items()
                if s == "valid" and account in (None, self._token_accounts.get(t))
            ]

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expire now (the next API call gets a 401)."""
        with self._lock:
            self._access_tokens = {
                t: (0.0, scope, account) for t, (_, scope, account) in self._access_tokens.items()
            }

    # ----------------------------------------------------------------- faults and log
    def inject(self, *faults: Fault | str, target: str = "meterdata") -> None:
        """Queue faults; each is consumed by one later request of its target, in order."""
        with self._lock:
            for fault in faults:
                self._faults.append(Fault(fault, target) if isinstance(fault, str) else fault)

    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def _take_fault(self, kind: str, params: dict[str, str]) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                point = fault.metering_point
                if point is not None and params.get("meteringPointCode") != point:
                    continue
                if fault.target in (kind, "any"):
                    self._faults.remove(fault)
                    return fault
        return None

    def requests(self, kind: str | None = None) -> list[RequestLogEntry]:
        """The request log, optionally only one kind (meterdata, token, authorize, ...)."""
        with self._lock:
            return [r for r in self.request_log if kind is None or r.kind == kind]

    def most_in_flight(self, account: str | None = None) -> int:
        """The most requests (meterdata and token) that were in flight at once, of ``account``
        (every account: None)."""
        with self._lock:
            spans = [
                (r.received, r.at)
                for r in self.request_log
                if r.kind in ("meterdata", "token") and account in (None, r.account)
            ]
        edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
        most = current = 0
        for _, step in edges:  # an answer and a new request at one instant: the answer first
            current += step
            most = max(most, current)
        return most

    # ----------------------------------------------------------------- ground truth
    def effective_available_until(self) -> datetime:
        if self.available_until is not None:
            return self.available_until.astimezone(UTC)
        return _floor_quarter(datetime.now(UTC)) - QUARTER

    def quarter_wh(self, code: str, measurement_type: int, instant: datetime) -> int:
        """The simulated watt-hours of the quarter hour starting at UTC ``instant``."""
        corrected = self.corrections.get(instant)
        if corrected is not None:
            return corrected
        local = instant.astimezone(HELSINKI)
        if code == SEED_METERING_POINT and measurement_type == CONSUMPTION:
            fixed = _seed_fall_day_wh(instant)
            if fixed is not None:
                return fixed
        return _generated_wh(code, measurement_type, instant, local)

    def truth(
        self,
        code: str,
        start: datetime,
        stop: datetime,
        measurement_type: int = CONSUMPTION,
    ) -> dict[datetime, int]:
        """Every available quarter hour in [start, stop) as UTC instant → Wh (the ground truth).

        Holds whatever resolution the API would answer with: an hourly value is the sum of these.
        """
        mp = self.metering_points[code]
        begin = max(_floor_quarter(start.astimezone(UTC)), mp.history_start_utc())
        end = min(stop.astimezone(UTC), self.effective_available_until())
        values: dict[datetime, int] = {}
        instant = begin
        while instant < end:
            if instant not in self.missing and instant not in self.absent:
                values[instant] = self.quarter_wh(code, measurement_type, instant)
            instant += QUARTER
        return values

    def truth_kwh(
        self, code: str, start: datetime, stop: datetime, measurement_type: int = CONSUMPTION
    ) -> float:
        """The exact total of [start, stop) in kWh (3 decimals)."""
        return sum(self.truth(code, start, stop, measurement_type).values()) / 1000

    def expected_points(
        self, code: str, start: datetime, stop: datetime, measurement_type: int = CONSUMPTION
    ) -> dict[datetime, tuple[str, int]]:
        """What a correct ``auto``-resolution client stores: UTC instant → (resolution, Wh).

        15-minute values from the switch date on, hourly values before it (hours with every
        quarter available that end by the switch), each at its own UTC instant.
        """
        mp = self.metering_points[code]
        quarters = self.truth(code, start, stop, measurement_type)
        switch = mp.switch_utc()
        points: dict[datetime, tuple[str, int]] = {}
        for instant, wh in quarters.items():
            if instant >= switch:
                points[instant] = ("PT15MIN", wh)
                continue
            hour = instant.replace(minute=0)
            if hour < start.astimezone(UTC) or hour + HOUR > switch:
                continue
            hourly = [quarters.get(hour + QUARTER * i) for i in range(4)]
            if all(v is not None for v in hourly):
                points[hour] = ("PT1H", sum(v for v in hourly if v is not None))
        return points

    # ----------------------------------------------------------------- meterdata
    def _label(self, instant: datetime) -> datetime:
        """The naive local time an answer labels the period starting at ``instant`` with."""
        local = instant.astimezone(HELSINKI)
        if self.spring_labels == "shifted":
            midnight = local_midnight_utc(local.date())
            winter = midnight.astimezone(HELSINKI).utcoffset() or timedelta(0)
            jump = midnight + 3 * HOUR  # 03:00 winter time, when the clocks move forward
            if (local.utcoffset() or winter) > winter and instant < jump + 3 * HOUR:
                return (instant + winter).replace(tzinfo=None)
        return local.replace(tzinfo=None)

    def meter_data(
        self, code: str, measurement_type: int, start: datetime, stop: datetime, step: str
    ) -> dict[str, Any]:
        """The JSON body ``meterdata2`` answers for a window (UTC instants), before faults."""
        mp = self.metering_points[code]
        available_until = self.effective_available_until()
        now = datetime.now(UTC)
        step_delta = QUARTER if step == "PT15MIN" else HOUR
        first = _ceil(start, step_delta)
        first = max(first, mp.history_start_utc())
        if step == "PT15MIN":
            first = max(first, mp.switch_utc())
        last_day_end = local_midnight_utc(to_local_naive(now).date() + timedelta(days=1))
        end = min(stop, last_day_end)
        rows: list[tuple[datetime, datetime, int | None]] = []
        instant = first
        while instant < end:
            quarters = [instant + QUARTER * i for i in range(int(step_delta / QUARTER))]
            if self.absent.intersection(quarters):
                instant += step_delta
                continue
            if quarters[-1] >= available_until or self.missing.intersection(quarters):
                wh = None
            else:
                wh = sum(self.quarter_wh(code, measurement_type, q) for q in quarters)
            rows.append((self._label(instant), instant, wh))
            instant += step_delta
        # The API's order: by naive local time, so the fall day's repeated times come as
        # consecutive pairs (first occurrence, then second), not chronologically.
        rows.sort(key=lambda row: (row[0], row[1]))
        tsv = [
            {
                "time": naive.isoformat(),
                "quantity": None if wh is None else _format_quantity(wh),
                "unit": "kWh",
            }
            for naive, _, wh in rows
        ]
        total = sum(wh for _, _, wh in rows if wh is not None)
        if self.edit_values is not None:
            tsv = self.edit_values(tsv)
        start_text = to_local_naive(start).isoformat()
        stop_text = to_local_naive(stop).isoformat()
        body: dict[str, Any] = {
            "getconsumptionsresult": {
                "consumptiondata": {
                    "meteringpointcode": code,
                    "sum": {
                        "quantity": _format_quantity(total),
                        "start": start_text,
                        "stop": stop_text,
                        "unit": "kWh",
                    },
                    "timeseries": {
                        "start": start_text,
                        "stop": stop_text,
                        "resolution": step,
                        "values": {"tsv": tsv},
                    },
                }
            }
        }
        if mp.spot:
            body["getconsumptionsresult"]["spotdata"] = _spot_block(start, stop, rows)
        return body


def _spot_block(
    start: datetime, stop: datetime, rows: list[tuple[datetime, datetime, int | None]]
) -> dict[str, Any]:
    hours = sorted({(naive.replace(minute=0), utc.replace(minute=0)) for naive, utc, _ in rows})
    tsv = [
        {
            "time": naive.isoformat(),
            "quantity": round(20 + (zlib.crc32(utc.isoformat().encode()) % 15000) / 100, 2),
            "unit": "EUR/MWh",
        }
        for naive, utc in hours
    ]
    return {
        "timeseries": {
            "start": to_local_naive(start).isoformat(),
            "stop": to_local_naive(stop).isoformat(),
            "resolution": "PT1H",
            "values": {"tsv": tsv},
        }
    }


def _generated_wh(code: str, measurement_type: int, instant: datetime, local: datetime) -> int:
    """Deterministic, plausible watt-hours for one quarter hour, with occasional exact zeros."""
    noise = zlib.crc32(f"{code}/{measurement_type}/{instant.timestamp():.0f}".encode())
    if measurement_type == PRODUCTION:
        # Solar: nothing at night, a bell over the day.
        if not 6 <= local.hour < 21:
            return 0
        peak = 1 - abs(local.hour + local.minute / 60 - 13.5) / 7.5
        return int(peak * 400) + noise % 60
    if noise % 97 == 0:
        return 0
    daily = (90, 75, 70, 70, 75, 110, 170, 250, 265, 235, 220, 220)[local.hour // 2]
    return daily + noise % 190


def _seed_fall_day_wh(instant: datetime) -> int | None:
    """The seed metering point's 2025-10-26: the bill's repeated-hour values and day total."""
    if to_local_naive(instant).date() != FALL_DAY_2025:
        return None
    return _seed_fall_day_values()[instant]


@functools.cache
def _seed_fall_day_values() -> dict[datetime, int]:
    day_start = local_midnight_utc(FALL_DAY_2025)
    quarters = [day_start + QUARTER * i for i in range(100)]
    values: dict[datetime, int] = {}
    others = []
    for instant in quarters:
        local = instant.astimezone(HELSINKI)
        if local.hour == 3:
            first_occurrence = local.utcoffset() == timedelta(hours=3)
            bill = FALL_DAY_2025_FIRST_WH if first_occurrence else FALL_DAY_2025_SECOND_WH
            values[instant] = bill[local.minute // 15]
        else:
            values[instant] = _generated_wh(SEED_METERING_POINT, CONSUMPTION, instant, local)
            others.append(instant)
    # Scale the other 92 quarter hours so that the day adds up to the bill's total exactly.
    remaining = FALL_DAY_2025_TOTAL_WH - sum(FALL_DAY_2025_FIRST_WH) - sum(FALL_DAY_2025_SECOND_WH)
    scale = remaining / sum(values[q] for q in others)
    for q in others:
        values[q] = int(values[q] * scale)
    for q in others[: remaining - sum(values[q] for q in others)]:
        values[q] += 1
    return values


# --------------------------------------------------------------------------- HTTP layer
class _Answer(Exception):
    """Raised by handlers to send a response."""

    def __init__(
        self,
        status: int,
        body: str | bytes | dict[str, Any] = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _b2c_error(error: str, code: str, description: str) -> _Answer:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    text = (
        f"{code}: {description}\r\nCorrelation ID: {secrets.token_hex(8)}\r\nTimestamp: {stamp}\r\n"
    )
    return _Answer(400, {"error": error, "error_description": text})


def _make_handler(sim: Simulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "WattiVahtiSimulator/1.0"
        # Headers and body go out in separate writes: with Nagle's algorithm a keep-alive client
        # would wait for its own delayed ACK (about 40 ms) on every answer, which no real
        # service adds.
        disable_nagle_algorithm = True
        trickle_seconds = 0.0  # per byte of the body of the answer being sent; 0: all at once

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet: the request log is the record."""

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def _account_of(self, kind: str, params: dict[str, str]) -> str | None:
            if kind == "token":
                return sim.account_of_token(params.get("refresh_token", ""))
            if kind == "meterdata":
                point = sim.metering_points.get(params.get("meteringPointCode", ""))
                return point.account if point else None
            return None

        def _dispatch(self, method: str) -> None:
            received = time.time()
            url = urlsplit(self.path)
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if method == "POST":
                length = int(self.headers.get("Content-Length") or 0)
                form = self.rfile.read(length).decode() if length else ""
                if "json" not in (self.headers.get("Content-Type") or ""):
                    params.update({k: v[-1] for k, v in parse_qs(form).items()})
                else:
                    params["_json"] = form
            kind, handler = self._route(method, url.path)
            fault = sim._take_fault(kind, params) if kind != "control" else None
            self.trickle_seconds = fault.seconds if fault and fault.kind == "trickle" else 0.0
            logged = {k: v for k, v in params.items() if k != "_json"}
            try:
                if sim.response_delay and kind != "control":
                    time.sleep(sim.response_delay)
                if fault is not None:
                    self._apply_fault(fault)
                handler(params)
                raise _Answer(404, "Not found")
            except _Answer as answer:
                # Logged before answering, so a client that has its answer finds it in the log.
                sim._log(
                    RequestLogEntry(
                        method, url.path, kind, logged, answer.status, received=received,
                        account=self._account_of(kind, params),
                    )
                )  # fmt: skip
                self._send(answer)
            except _Dropped:
                sim._log(
                    RequestLogEntry(
                        method, url.path, kind, logged, -1, received=received,
                        account=self._account_of(kind, params),
                    )
                )  # fmt: skip
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)

        def _route(self, method: str, path: str) -> tuple[str, Any]:
            routes: dict[tuple[str, str], tuple[str, Any]] = {
                ("POST", TOKEN_PATH): ("token", self._token),
                ("GET", AUTHORIZE_PATH): ("authorize", self._authorize),
                ("POST", TENANT_PATH + "/SelfAsserted"): ("selfasserted", self._self_asserted),
                ("GET", f"{TENANT_PATH}/api/{B2C_API}/confirmed"): ("confirmed", self._confirmed),
                ("GET", API_PATH + "/meterdata2"): ("meterdata", self._meterdata),
                ("GET", "/_sim/health"): ("control", self._health),
                ("POST", "/_sim/faults"): ("control", self._control_faults),
                ("POST", "/_sim/refresh-token"): ("control", self._control_token),
            }
            return routes.get((method, path), ("unknown", self._not_found))

        def _apply_fault(self, fault: Fault) -> None:
            if fault.kind == "drop":
                raise _Dropped
            if fault.kind == "delay":
                time.sleep(fault.seconds)
                return
            if fault.kind == "stall":
                time.sleep(fault.seconds)
                if self._client_gone():
                    raise _Dropped
                return
            if fault.kind == "trickle":
                return  # _send trickles the body
            if fault.kind == "malformed":
                raise _Answer(200, b'{"getconsumptionsresult": {"consumptiondata": [', _JSON)
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            raise _Answer(int(fault.kind), fault.body or f"Simulated fault {fault.kind}", headers)

        def _client_gone(self) -> bool:
            """True when the client closed its end of the connection (it sent nothing more)."""
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            try:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
            except OSError:
                return True

        def _send(self, answer: _Answer) -> None:
            body = answer.body
            headers = dict(answer.headers)
            if isinstance(body, dict):
                body = json.dumps(body).encode()
                headers.setdefault("Content-Type", "application/json; charset=utf-8")
            elif isinstance(body, str):
                body = body.encode()
                headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            self.send_response(answer.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            try:
                self.end_headers()
                if not self.trickle_seconds:
                    self.wfile.write(body)
                    return
                for byte in body:
                    time.sleep(self.trickle_seconds)
                    self.wfile.write(bytes([byte]))
            except OSError:  # the client gave up (timed out, stopped) and closed the connection
                self.close_connection = True

        # ------------------------------------------------------------- endpoints
        def _not_found(self, params: dict[str, str]) -> None:
            raise _Answer(404, "Not found")

        def _health(self, params: dict[str, str]) -> None:
            raise _Answer(200, {"status": "ok", "metering_points": list(sim.metering_points)})

        def _control_faults(self, params: dict[str, str]) -> None:
            for item in json.loads(params.get("_json") or "[]"):
                sim.inject(Fault(**item))
            raise _Answer(200, {"pending": sim.pending_faults()})

        def _control_token(self, params: dict[str, str]) -> None:
            raise _Answer(200, {"refresh_token": sim.issue_refresh_token()})

        def _token(self, params: dict[str, str]) -> None:
            if params.get("client_id") != CLIENT_ID:
                raise _b2c_error(
                    "unauthorized_client", "AADB2C90057", "The provided application is not known."
                )
            grant = params.get("grant_type")
            if grant == "refresh_token":
                self._refresh_grant(params)
            if grant == "authorization_code":
                self._code_grant(params)
            raise _b2c_error(
                "unsupported_grant_type", "AADB2C90086", "The supplied grant_type is not supported."
            )

        def _refresh_grant(self, params: dict[str, str]) -> None:
            token = params.get("refresh_token", "")
            with sim._lock:
                status = sim._refresh_tokens.get(token)
                account = sim._token_accounts.get(token, "default")
                if status == "used" and sim.reuse_revokes_family:
                    for other, owner in sim._token_accounts.items():
                        if owner == account:
                            sim._refresh_tokens[other] = "revoked"
                if status == "expired":
                    raise _b2c_error(
                        "invalid_grant",
                        "AADB2C90080",
                        "The provided grant has expired. Please re-authenticate and try again.",
                    )
                if status != "valid":
                    raise _b2c_error(
                        "invalid_grant",
                        "AADB2C90129",
                        "The provided grant has been revoked. Please reauthenticate and try again.",
                    )
                answer = self._issue_tokens(params.get("scope", ""), account)
                if sim.strict_rotation:
                    sim._refresh_tokens[token] = "used"
                else:
                    answer.pop("refresh_token")
            raise _Answer(200, answer)

        def _code_grant(self, params: dict[str, str]) -> None:
            with sim._lock:
                tx = sim._codes.pop(params.get("code", ""), None)
            if tx is None:
                raise _b2c_error("invalid_grant", "AADB2C90090", "The provided JWE is not valid.")
            verifier = params.get("code_verifier", "")
            digest = hashlib.sha256(verifier.encode()).digest()
            challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if challenge != tx.challenge:
                raise _b2c_error(
                    "invalid_grant",
                    "AADB2C90183",
                    "The supplied code_verifier does not match the code_challenge.",
                )
            if params.get("redirect_uri") != tx.redirect_uri:
                raise _b2c_error(
                    "invalid_request", "AADB2C90006", "The redirect URI provided does not match."
                )
            raise _Answer(200, self._issue_tokens(params.get("scope", ""), tx.account or "default"))

        def _issue_tokens(self, scope: str, account: str) -> dict[str, Any]:
            answer: dict[str, Any] = {
                "id_token": "id-" + secrets.token_urlsafe(12),
                "token_type": "Bearer",
                "not_before": int(time.time()),
                "expires_in": sim.access_token_lifetime,
                "expires_on": int(time.time()) + sim.access_token_lifetime,
                "refresh_token": sim.issue_refresh_token(account),
                "refresh_token_expires_in": 86400 * 14,
                "scope": scope,
            }
            names_an_api = any("://" in part for part in scope.split())
            if sim.access_tokens == "always" or (sim.access_tokens == "resource" and names_an_api):
                access = "at-" + secrets.token_urlsafe(24)
                with sim._lock:
                    expiry = time.time() + sim.access_token_lifetime
                    sim._access_tokens[access] = (expiry, scope, account)
                answer |= {"access_token": access, "resource": "salpa"}
            return answer

        def _authorize(self, params: dict[str, str]) -> None:
            if params.get("client_id") != CLIENT_ID:
                raise _Answer(400, "AADB2C90117: The application is not known.")
            if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
                raise _Answer(400, "AADB2C90183: PKCE S256 code_challenge is required.")
            tx_id = "StateProperties=" + base64.b64encode(secrets.token_bytes(18)).decode()
            tx = _LoginTransaction(
                csrf=secrets.token_urlsafe(24),
                challenge=params["code_challenge"],
                redirect_uri=params.get("redirect_uri", ""),
                state=params.get("state", ""),
            )
            with sim._lock:
                sim._transactions[tx_id] = tx
            settings = {
                "remoteResource": "https://wattivahti.fi/b2c/signin.html",
                "retryLimit": 3,
                "csrf": tx.csrf,
                "transId": tx_id,
                "pageViewId": secrets.token_hex(8),
                "api": B2C_API,
                "hosts": {"tenant": TENANT_PATH, "policy": POLICY, "static": "https://static/"},
                "locale": {"lang": "fi"},
            }
            sa_fields = {
                "AttributeFields": [
                    {
                        "UX_INPUT_TYPE": "EmailBox",
                        "USER_INPUT_TYPE": "EmailBox",
                        "IS_PASSWORD": False,
                        "DISPLAY_NAME": "Sähköposti",
                        "ID": "logonIdentifier",
                    },
                    {
                        "UX_INPUT_TYPE": "Password",
                        "USER_INPUT_TYPE": "Password",
                        "IS_PASSWORD": True,
                        "DISPLAY_NAME": "Salasana",
                        "ID": "password",
                    },
                ]
            }
            page = (
                "<!DOCTYPE html><html><head><title>Kirjaudu</title>\n"
                "<script>\n"
                f"var SETTINGS = {json.dumps(settings)};\n"
                f"var SA_FIELDS = {json.dumps(sa_fields)};\n"
                "</script></head><body><form id='localAccountForm'>"
                f"<p>{html.escape('Kirjaudu WattiVahtiin')}</p></form></body></html>\n"
            )
            raise _Answer(
                200,
                page.encode(),
                {
                    "Content-Type": "text/html; charset=utf-8",
                    "Set-Cookie": f"x-ms-cpim-csrf={tx.csrf}; Path=/; HttpOnly",
                },
            )

        def _transaction(self, params: dict[str, str], csrf: str | None) -> _LoginTransaction:
            with sim._lock:
                tx = sim._transactions.get(params.get("tx", ""))
            if tx is None or params.get("p") != POLICY or csrf != tx.csrf:
                raise _Answer(403, {"status": "403", "message": "Forbidden: unknown transaction"})
            return tx

        def _self_asserted(self, params: dict[str, str]) -> None:
            tx = self._transaction(params, self.headers.get("X-CSRF-TOKEN"))
            if params.get("request_type") != "RESPONSE":
                raise _Answer(400, {"status": "400", "message": "Bad request type"})
            password, account = sim.users.get(params.get("logonIdentifier", ""), (None, None))
            if password is not None and params.get("password") == password:
                tx.account = account
                raise _Answer(200, {"status": "200"})
            # B2C answers a wrong password with HTTP 200 and a non-200 status in the body.
            raise _Answer(
                200,
                {
                    "status": "400",
                    "errorCode": "AADB2C90225",
                    "message": "Käyttäjätunnus tai salasana on virheellinen.",
                },
            )

        def _confirmed(self, params: dict[str, str]) -> None:
            tx = self._transaction(params, params.get("csrf_token"))
            if tx.account is None:
                raise _Answer(400, "AADB2C: the user has not signed in")
            code = "code-" + secrets.token_urlsafe(24)
            with sim._lock:
                sim._codes[code] = tx
                sim._transactions.pop(params.get("tx", ""), None)
            fragment = urlencode({"state": tx.state, "code": code})
            raise _Answer(302, b"", {"Location": f"{tx.redirect_uri}#{fragment}"})

        def _meterdata(self, params: dict[str, str]) -> None:
            auth = self.headers.get("Authorization") or ""
            token = auth.removeprefix("Bearer ").strip()
            with sim._lock:
                expiry, scope, account = sim._access_tokens.get(token, (0.0, "", ""))
            if not token or expiry < time.time():
                raise _Answer(401, "Unauthorized: access token is missing or expired")
            if "salpa/customer.read" not in scope:
                raise _Answer(403, "Forbidden: the access token lacks the customer.read scope")
            code = params.get("meteringPointCode", "")
            try:
                measurement_type = int(params.get("measurementType", ""))
                start = parse_api_time(params["start"])
                stop = parse_api_time(params["stop"])
            except (KeyError, ValueError) as exc:
                raise _Answer(400, f"Bad request: {exc}") from exc
            step = params.get("resultStep")
            if measurement_type not in (CONSUMPTION, PRODUCTION):
                raise _Answer(400, f"Bad request: unknown measurementType {measurement_type}")
            if step not in ("PT15MIN", "PT1H"):
                raise _Answer(400, f"Bad request: unknown resultStep {step}")
            if stop <= start:
                raise _Answer(400, "Bad request: stop must be after start")
            mp = sim.metering_points.get(code)
            if mp is None or mp.account != account:
                raise _Answer(404, f"Metering point {code} was not found for this customer")
            if measurement_type == PRODUCTION and not mp.production:
                raise _Answer(200, _empty_answer(code, start, stop, step))
            raise _Answer(200, sim.meter_data(code, measurement_type, start, stop, step))

    return Handler


_JSON = {"Content-Type": "application/json; charset=utf-8"}


class _Dropped(Exception):
    """Close the connection without answering."""


def _empty_answer(code: str, start: datetime, stop: datetime, step: str) -> dict[str, Any]:
    start_text, stop_text = to_local_naive(start).isoformat(), to_local_naive(stop).isoformat()
    return {
        "getconsumptionsresult": {
            "consumptiondata": {
                "meteringpointcode": code,
                "sum": {"quantity": 0, "start": start_text, "stop": stop_text, "unit": "kWh"},
                "timeseries": {
                    "start": start_text,
                    "stop": stop_text,
                    "resolution": step,
                    "values": {"tsv": []},
                },
            }
        }
    }


def main(argv: list[str] | None = None) -> None:
    """Run the simulator in the foreground and print where it listens."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--metering-point",
        action="append",
        default=[],
        help="metering point code (repeatable; default the seed point 1234567)",
    )
    parser.add_argument(
        "--switch-date",
        type=date.fromisoformat,
        default=date(2023, 1, 1),
        help="local date from which 15-minute values exist (hourly before)",
    )
    parser.add_argument("--production", action="store_true", help="points also produce energy")
    parser.add_argument("--expires-in", type=int, default=3600, help="access token lifetime (s)")
    parser.add_argument(
        "--spring-labels",
        choices=("clock", "shifted"),
        default="clock",
        help="how the spring DST day's values are labelled (docs/wattivahti-api.md)",
    )
    parser.add_argument("--token-file", help="write a fresh refresh token to this file")
    args = parser.parse_args(argv)
    codes = args.metering_point or [SEED_METERING_POINT]
    points = [
        MeteringPoint(code, switch_date=args.switch_date, production=args.production, spot=True)
        for code in codes
    ]
    sim = Simulator(
        points,
        host=args.host,
        port=args.port,
        access_token_lifetime=args.expires_in,
        spring_labels=args.spring_labels,
    )
    sim.start()
    token = sim.issue_refresh_token()
    if args.token_file:
        with open(args.token_file, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
    print(f"WattiVahti simulator listening on {sim.base_url}", flush=True)
    print(f"  api_url:   {sim.api_url}", flush=True)
    print(f"  token_url: {sim.token_url}", flush=True)
    print(f"  metering points: {', '.join(codes)}", flush=True)
    print(
        "  refresh token: "
        + (f"written to {args.token_file}" if args.token_file else "POST /_sim/refresh-token"),
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sim.stop()


if __name__ == "__main__":
    main()
