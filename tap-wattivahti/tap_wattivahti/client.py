"""The base streams: what every stream of the tap shares, and one ``meterdata2`` request, its
retries, and its answer parsed and placed.

Requests are bounded: each one (API and token alike) has a total deadline of
``request_timeout_seconds`` for connecting and reading the whole answer
(:class:`~tap_wattivahti.transport.DeadlineAdapter`); 429 (honouring ``Retry-After``), 5xx,
dropped connections and timeouts are retried with exponential backoff (``max_retries``,
``retry_wait_seconds``); a 401 refreshes the access token once and repeats the request; any other
4xx stops the run with a message naming the metering point and the API's answer.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import threading
import typing as t
from collections.abc import Generator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import requests
from singer_sdk import RESTStream, Stream
from singer_sdk.exceptions import RetriableAPIError
from typing_extensions import override

from tap_wattivahti import compat
from tap_wattivahti.errors import TapWattiVahtiError
from tap_wattivahti.resolution import STEP
from tap_wattivahti.timeutil import Placement, local_text, place_values
from tap_wattivahti.transport import (
    MAX_WAIT_SECONDS,
    DeadlineAdapter,
    backoff_wait,
    describe_failure,
    excerpt,
    jitter,
    retry_after,
    with_deadlines,
)

if t.TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk.helpers.types import Context

    from tap_wattivahti.auth import WattiVahtiAuthenticator
    from tap_wattivahti.settings import Settings
    from tap_wattivahti.tap import TapWattiVahti


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


class TapStream(Stream):
    """What every stream of this tap shares: its tap (typed) and the tap's validated settings."""

    def __init__(self, tap: TapWattiVahti) -> None:
        """Create the stream of ``tap``."""
        super().__init__(tap)
        self.tap = tap

    @property
    def settings(self) -> Settings:
        """The tap's validated settings."""
        return self.tap.settings

    @override
    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        """Log as the SDK does, except its "An unhandled error occurred while syncing" ERROR for
        an expected failure: that failure ends the run with its own one paragraph (see
        docs/library-notes.md#sdk-sync-error-log)."""
        if level >= logging.ERROR and isinstance(sys.exc_info()[1], TapWattiVahtiError):
            return
        super().log(message, *args, level=level, **kwargs)


class WattiVahtiStream(TapStream, RESTStream):
    """Base stream for one ``measurementType`` of ``meterdata2``, one partition per meter."""

    path = "/meterdata2"
    #: ``measurementType`` of the API: 1 consumption, 6 production.
    measurement_type: t.ClassVar[int]

    def __init__(self, tap: TapWattiVahti) -> None:
        """Create the stream of ``tap``."""
        super().__init__(tap)
        if not any(isinstance(f, _WithoutGiveUp) for f in self.logger.filters):
            self.logger.addFilter(_WithoutGiveUp())
        #: ``metering_point``: whose request this thread is sending (its account authenticates).
        self._sending = threading.local()

    @property
    @override
    def url_base(self) -> str:
        """The ``api_url`` setting."""
        return self.settings.api_url

    @property
    @override
    def authenticator(self) -> WattiVahtiAuthenticator:
        """The authenticator of the partition's account (the SDK asks for it on every
        request)."""
        return self.tap.authenticator(self._sending.metering_point)

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
        attempt = 0
        while True:
            wait = backoff_wait(attempt, self.settings.retry_wait_seconds, _retry_after(exception))
            attempt += 1
            exception = yield wait

    @override
    def backoff_max_tries(self) -> int:
        """One try plus ``max_retries`` retries."""
        return self.settings.max_retries + 1

    @override
    def backoff_jitter(self, value: float) -> float:
        """Up to 10 % more than the computed wait (never less than a ``Retry-After``)."""
        return jitter(value)

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
        self._sending.metering_point = metering_point
        # Prepared without the session's auth (the SDK's build_prepared_request sets it on the
        # session, which the fetching threads share): the SDK's send authenticates it with the
        # authenticator of this thread's account.
        headers = {"User-Agent": self.user_agent, **self.http_headers}
        request = self.requests_session.prepare_request(
            requests.Request("GET", self.get_url(context), params=params, headers=headers)
        )
        response = self._send(request, context, where)
        return self._parse(response, resolution, start, stop, where)

    def _send(
        self, request: requests.PreparedRequest, context: Context, where: str
    ) -> requests.Response:
        """Send with retries; after a 401, refresh the access token once and send again."""
        send = self.request_decorator(compat.send_request(self))
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
        placement = place_values(values, self.settings.zone, start, stop, STEP[resolution])
        return Answer(resolution, start, stop, placement, api_sum)


class _WithoutGiveUp(logging.Filter):
    """Drops backoff's "Giving up …" ERROR line: a request that failed after its retries is
    reported once, with its account (docs/library-notes.md#sdk-request)."""

    @override
    def filter(self, record: logging.LogRecord) -> bool:
        """False for the give-up line."""
        return not (record.levelno >= logging.ERROR and str(record.msg).startswith("Giving up"))


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


def _retry_after(exception: object) -> float | None:
    """The ``Retry-After`` of a 429 answer (capped), if it has one."""
    response = getattr(exception, "response", None)
    if not isinstance(response, requests.Response) or response.status_code != 429:
        return None
    return retry_after(response, MAX_WAIT_SECONDS)


def _describe_failure(exception: object) -> str:
    if isinstance(exception, RetriableAPIError) and exception.response is not None:
        return describe_failure(exception.response)
    return describe_failure(exception if isinstance(exception, BaseException) else None)
