"""The base stream: one ``meterdata2`` request, its retries, and its answer parsed and placed.

Requests are sequential and bounded: each one (API and token alike) has a total deadline of
``request_timeout_seconds`` for connecting and reading the whole answer (:class:`DeadlineAdapter`);
429 (honouring ``Retry-After``), 5xx, dropped connections and timeouts are retried with
exponential backoff (``max_retries``, ``retry_wait_seconds``); a 401
refreshes the access token once and repeats the request; any other 4xx stops the run with a
message naming the metering point and the API's answer.
"""

from __future__ import annotations

import json
import math
import random
import time
import typing as t
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from singer_sdk import RESTStream
from singer_sdk.exceptions import RetriableAPIError
from typing_extensions import override

from tap_wattivahti.errors import TapWattiVahtiError
from tap_wattivahti.timeutil import Placement, local_text, place_values

if t.TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk.helpers.types import Context

    from tap_wattivahti.auth import WattiVahtiAuthenticator
    from tap_wattivahti.tap import Settings, TapWattiVahti

QUARTER_HOURLY = "PT15MIN"
HOURLY = "PT1H"
RESOLUTIONS = (QUARTER_HOURLY, HOURLY)
_MAX_WAIT_SECONDS = 300.0
_EXCERPT_CHARS = 300
_READ_BYTES = 65536


class _Unauthorized(Exception):
    """The API answered 401: the access token is missing or expired."""


class _Refused(Exception):
    """The API answered a 4xx that retrying cannot fix."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(response.status_code)
        self.response = response


@dataclass(frozen=True)
class Answer:
    """One ``meterdata2`` answer: what was asked, the placed values, and the API's own sum."""

    resolution: str
    start: datetime
    stop: datetime
    placement: Placement
    api_sum: Decimal | None


class DeadlineAdapter(HTTPAdapter):
    """Makes a request's ``timeout`` a deadline for the whole exchange, not for each read.

    requests applies ``timeout`` to every socket operation, so an answer that trickles in a
    byte at a time never times out. Here a number ``timeout`` bounds connecting, waiting for
    the answer and reading its whole body together (the status line and headers wait at most
    the time left, per read); past it, :class:`requests.ReadTimeout` is raised, which is
    retried like any timeout. Redirects followed by the session get a deadline each.
    """

    @override
    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        """Send ``request``; with a number ``timeout`` and no streaming, within that deadline."""
        if stream or not isinstance(timeout, (int, float)):
            return super().send(request, stream, timeout, verify, cert, proxies)
        deadline = time.monotonic() + timeout
        # Connecting and waiting for the headers share the deadline. requests' send documents a
        # urllib3 Timeout as a valid timeout; its type hints leave it out.
        total = urllib3.Timeout(total=timeout)
        response = super().send(request, True, total, verify, cert, proxies)  # ty: ignore[invalid-argument-type]
        try:
            body = _read_within(response, deadline, timeout)
        except BaseException:
            response.close()
            raise
        # requests keeps a read body in these two attributes; setting them is how a body read
        # here becomes `response.content` (requests has no public way).
        response._content = body
        response._content_consumed = True
        return response


def _read_within(response: requests.Response, deadline: float, seconds: float) -> bytes:
    """The whole (decoded) body of a streamed ``response``, read before ``deadline``."""
    raw = response.raw
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            msg = f"The answer did not arrive in full within {seconds:g} s."
            raise requests.ReadTimeout(msg, request=response.request, response=response)
        connection = raw.connection
        if connection is not None and connection.sock is not None:
            connection.sock.settimeout(left)  # one read below makes at most one recv
        try:
            chunk = raw.read1(_READ_BYTES, decode_content=True)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.ReadTimeout(exc, request=response.request) from exc
        except urllib3.exceptions.HTTPError as exc:
            raise requests.ConnectionError(exc, request=response.request) from exc
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def deadline_session() -> requests.Session:
    """A session whose requests each get a total deadline (:class:`DeadlineAdapter`)."""
    return with_deadlines(requests.Session())


def with_deadlines(session: requests.Session) -> requests.Session:
    """Mount :class:`DeadlineAdapter` on ``session`` for http and https; returns it."""
    adapter = DeadlineAdapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def excerpt(text: str) -> str:
    """A short one-line excerpt of an answer body for error messages."""
    flat = " ".join(text.split())
    return flat if len(flat) <= _EXCERPT_CHARS else flat[:_EXCERPT_CHARS] + "…"


class WattiVahtiStream(RESTStream):
    """Base stream for one ``measurementType`` of ``meterdata2``, one partition per meter."""

    path = "/meterdata2"
    #: ``measurementType`` of the API: 1 consumption, 6 production.
    measurement_type: t.ClassVar[int]

    @property
    def tap(self) -> TapWattiVahti:
        """The tap this stream belongs to (typed)."""
        return t.cast("TapWattiVahti", self._tap)

    @property
    def settings(self) -> Settings:
        """The tap's validated settings."""
        return self.tap.settings

    @property
    @override
    def url_base(self) -> str:
        """The ``api_url`` setting."""
        return self.settings.api_url

    @property
    @override
    def authenticator(self) -> WattiVahtiAuthenticator:
        """The tap's single authenticator (the SDK asks for it on every request)."""
        return self.tap.authenticator

    @property
    @override
    def timeout(self) -> int:
        """Seconds one request may take in all (``request_timeout_seconds``)."""
        return self.settings.request_timeout_seconds

    @property
    @override
    def requests_session(self) -> requests.Session:
        """The SDK's session, with a total deadline on each request (:class:`DeadlineAdapter`)."""
        session = super().requests_session
        if not isinstance(session.adapters.get("https://"), DeadlineAdapter):
            with_deadlines(session)
        return session

    # ------------------------------------------------------------------ retries
    @override
    def backoff_wait_generator(self) -> Generator[float, t.Any, None]:
        """Exponential waits from ``retry_wait_seconds``; a 429's ``Retry-After`` wins (capped)."""
        exception = yield 0.0  # backoff primes the generator with send(None)
        base = self.settings.retry_wait_seconds
        attempt = 0
        while True:
            wait = min(base * 2**attempt, _MAX_WAIT_SECONDS)
            retry_after = _retry_after_seconds(exception)
            if retry_after is not None:
                wait = min(retry_after, _MAX_WAIT_SECONDS)
            attempt += 1
            exception = yield wait

    @override
    def backoff_max_tries(self) -> int:
        """One try plus ``max_retries`` retries."""
        return self.settings.max_retries + 1

    @override
    def backoff_jitter(self, value: float) -> float:
        """Up to 10 % more than the computed wait (never less than a ``Retry-After``)."""
        return value * (1 + random.random() / 10)  # noqa: S311 - jitter, not cryptography

    @override
    def backoff_handler(self, details: Details) -> None:
        """Log each retry with its cause and wait, never the request's headers."""
        self.logger.warning(
            "meterdata2 request failed (%s); retry %d of %d in %.1f s.",
            _describe_failure(details.get("exception")),
            details.get("tries", 0),
            self.settings.max_retries,
            details.get("wait", 0.0),
        )

    @override
    def validate_response(self, response: requests.Response) -> None:
        """401 → refresh once; 429 and 5xx → retry; other 4xx → stop with the API's answer."""
        status = response.status_code
        if status == 401:
            raise _Unauthorized
        if status == 429 or status >= 500:
            raise RetriableAPIError(f"HTTP {status}: {excerpt(response.text)}", response)
        if status >= 400:
            raise _Refused(response)

    # ------------------------------------------------------------------ one request
    def fetch(self, context: Context, resolution: str, start: datetime, stop: datetime) -> Answer:
        """Ask ``meterdata2`` for ``[start, stop)`` at ``resolution`` and place the answer."""
        metering_point = str(context["metering_point"])
        zone = self.settings.zone
        params = {
            "meteringPointCode": metering_point,
            "measurementType": self.measurement_type,
            "start": local_text(start, zone),
            "stop": local_text(stop, zone),
            "resultStep": resolution,
        }
        where = (
            f"metering point {metering_point} ({self.name}, {resolution}, "
            f"{params['start']} to {params['stop']})"
        )
        request = self.build_prepared_request(
            method="GET", url=self.get_url(context), params=params, headers=self.http_headers
        )
        response = self._send(request, context, where)
        return self._parse(response, resolution, start, stop, where)

    def _send(
        self, request: requests.PreparedRequest, context: Context, where: str
    ) -> requests.Response:
        """Send with retries; after a 401, refresh the access token once and send again."""
        send = self.request_decorator(self._request)
        try:
            try:
                return send(request, context)
            except _Unauthorized:
                self.logger.info("The API answered 401; refreshing the access token once.")
                self.authenticator.invalidate()
            try:
                return send(request, context)
            except _Unauthorized:
                msg = (
                    f"The WattiVahti API answered 401 Unauthorized for {where} even with a "
                    f"freshly refreshed access token. Check the scope and api_url settings."
                )
                raise TapWattiVahtiError(msg) from None
        except _Refused as refusal:
            answer = refusal.response
            msg = (
                f"The WattiVahti API refused {where}: HTTP {answer.status_code} "
                f"{answer.reason}: {excerpt(answer.text)}. Check that the metering point "
                f"code is yours (metering_points setting)."
            )
            raise TapWattiVahtiError(msg) from None
        except (RetriableAPIError, requests.RequestException) as exc:
            msg = (
                f"The WattiVahti API did not answer {where} after "
                f"{self.settings.max_retries + 1} attempts ({_describe_failure(exc)}). "
                f"Nothing after the last bookmark was lost: run the tap again later."
            )
            raise TapWattiVahtiError(msg) from None

    def _parse(
        self,
        response: requests.Response,
        resolution: str,
        start: datetime,
        stop: datetime,
        where: str,
    ) -> Answer:
        def malformed(problem: str) -> TapWattiVahtiError:
            return TapWattiVahtiError(
                f"The WattiVahti API answered {where} with {problem} (HTTP "
                f"{response.status_code}, {len(response.content)} bytes: "
                f"{excerpt(response.text)}). Nothing was emitted from this answer; run the tap "
                f"again later, and report it if it persists."
            )

        try:
            body = json.loads(response.text, parse_float=Decimal)
        except ValueError:
            raise malformed("malformed JSON") from None
        result = body.get("getconsumptionsresult") if isinstance(body, dict) else None
        if not isinstance(result, dict):
            raise malformed("JSON without a getconsumptionsresult object")
        data = result.get("consumptiondata")
        if data is None:
            return Answer(resolution, start, stop, Placement(), None)
        try:
            series = data["timeseries"]
            items = series["values"]["tsv"] or []
            values = [
                (item["time"], _quantity(item.get("quantity"), item["time"])) for item in items
            ]
            total = (data.get("sum") or {}).get("quantity")
            api_sum = None if total is None else _quantity(total, "the sum")
        except _NotANumber as exc:
            raise malformed(str(exc)) from None
        except (KeyError, TypeError, ValueError) as exc:
            raise malformed(f"an unexpected shape ({type(exc).__name__}: {exc})") from None
        sent = series.get("resolution")
        if sent not in (None, resolution):
            self.logger.warning("Asked for %s but the answer says %s: %s", resolution, sent, where)
        placement = place_values(values, self.settings.zone, start, stop)
        return Answer(resolution, start, stop, placement, api_sum)


class _NotANumber(ValueError):
    """A quantity that is not a finite number (its message says which and where)."""


def _quantity(value: object, where: object) -> Decimal | None:
    """A JSON quantity (float parsed as Decimal, integer, or null) as an exact Decimal.

    Records carry kWh and Wh as JSON numbers (floats): a value whose Wh do not fit a float, such
    as ``1e400`` (or ``NaN``, ``Infinity``), would reach the target as null or not at all.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        msg = f"the quantity {value!r} at {where}, which is not a number"
        raise _NotANumber(msg)
    number = Decimal(value)
    if not math.isfinite(float(number) * 1000):
        msg = f"the quantity {value} at {where}, which is not a finite number of kWh"
        raise _NotANumber(msg)
    return number


def _retry_after_seconds(exception: object) -> float | None:
    response = getattr(exception, "response", None)
    if not isinstance(response, requests.Response) or response.status_code != 429:
        return None
    try:
        return max(float(response.headers.get("Retry-After", "")), 0.0)
    except ValueError:
        return None


def _describe_failure(exception: object) -> str:
    if isinstance(exception, RetriableAPIError) and exception.response is not None:
        return f"HTTP {exception.response.status_code} {exception.response.reason}"
    if isinstance(exception, requests.Timeout):
        return "timed out"
    if isinstance(exception, requests.ConnectionError):
        return "connection failed"
    return type(exception).__name__
