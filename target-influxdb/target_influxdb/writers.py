"""Synchronous, retried writes of line protocol: ``/write`` (v1) and ``/api/v2/write`` (v2).

Both flavours use one retry policy, :class:`WriteRetry` (429 with or without ``Retry-After``,
5xx, connection errors; bounded exponential backoff, as influxdb-client's ``WritesRetry``; no
redirect is followed), and both raise :class:`WriteError` with a message a user can act on when
a batch is finally not acknowledged. A batch counts as stored only on ``204 No Content``, the
documented answer of InfluxDB 1.x ``/write``, 2.x/3.x/Cloud ``/api/v2/write`` and
VictoriaMetrics's line-protocol endpoints: any other answer (a web server's ``200`` page, a
proxy's redirect to its login page) is not an InfluxDB write endpoint. A stop request (a signal)
ends the retries: the request on the wire finishes or times out, and no further attempt is made.

The target writes from one background thread at a time (see ``durability.py``); a writer is
never used by two threads at once. influxdb-client is imported only by the v2 writer: importing
it costs about a second, which every v1 run would otherwise pay at start-up.
"""

from __future__ import annotations

import datetime
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import takewhile
from typing import TYPE_CHECKING, Any, Protocol

import requests
import urllib3
from requests.adapters import HTTPAdapter
from typing_extensions import Self, override
from urllib3.util.retry import Retry

from target_influxdb.errors import (
    WriteError,
    WriteInterruptedError,
    connection_reason,
    not_a_write_endpoint,
    refused_delete,
    rejected,
    server_message,
    unreachable,
)
from target_influxdb.mapping import NANOSECONDS, DeletedPoint
from target_influxdb.settings import (
    MAX_RETRY_DELAY,
    Connection,
    Destination,
    V1Destination,
    V2Destination,
)

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

_LOG = logging.getLogger("target-influxdb.writes")
STORED = 204  # the one answer that means a batch was stored (see the module's docstring)
# InfluxQL DELETE statements in one POST to /query: InfluxDB 1.6 takes 5 to 10 ms for each
# (measured on the test machines), so a POST stays well within a request's `timeout`.
DELETES_PER_REQUEST = 100


class Writer(Protocol):
    """Writes one batch of line protocol, or deletes points, returning only once the server
    acknowledged it."""

    def write(self, body: bytes, points: int | None = None) -> None:
        """Write ``body`` (``points`` lines joined by newlines) or raise WriteError."""
        ...

    def delete(self, points: Sequence[DeletedPoint]) -> None:
        """Delete each point (a point that is not there is no error) or raise WriteError."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


class WriteRetry(Retry):
    """urllib3's ``Retry`` with the backoff of influxdb-client's ``WritesRetry``, a time budget
    that starts at each write's first failure, and a stop event that ends the retries.

    The n-th retry waits a random time between ``retry_interval * 2**(n-1)`` and
    ``retry_interval * 2**n`` (at most ``MAX_RETRY_DELAY``), or what ``Retry-After`` says.
    (``WritesRetry`` fixes its time budget when it is constructed, so in a run longer than the
    budget no write would be retried, and it imports the whole influxdb-client package.)
    """

    def __init__(
        self,
        *,
        retry_interval: float,
        max_retry_time: float,
        stop: threading.Event | None = None,
        deadline: float | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.retry_interval = retry_interval
        self.max_retry_time = max_retry_time
        self.stop = stop or threading.Event()
        self.deadline = deadline

    @override
    def new(self, **kw: Any) -> Self:
        kw.setdefault("retry_interval", self.retry_interval)
        kw.setdefault("max_retry_time", self.max_retry_time)
        kw.setdefault("stop", self.stop)
        kw.setdefault("deadline", self.deadline)
        return super().new(**kw)

    @override
    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        """429 and 5xx are retried, with or without ``Retry-After``."""
        return (
            (not self.allowed_methods or method.upper() in self.allowed_methods)
            and bool(self.total)
            and (status_code == 429 or status_code >= 500)
        )

    @override
    def get_backoff_time(self) -> float:
        failures = len(list(takewhile(lambda x: x.redirect_location is None, self.history)))
        if failures < 1:
            return 0.0
        low = min(self.retry_interval * 2 ** (failures - 1), MAX_RETRY_DELAY)
        high = min(self.retry_interval * 2**failures, MAX_RETRY_DELAY)
        return low + (high - low) * random.random()  # noqa: S311 - jitter, not security

    @override
    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        """Wait before the next try, unless a stop is requested (then raise)."""
        wait = None
        if response is not None and self.respect_retry_after_header:
            wait = self.get_retry_after(response)
        if wait is None:
            wait = self.get_backoff_time()
        if self.stop.wait(wait):
            raise WriteInterruptedError

    @override
    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Self:
        """Count one more failure: log it, and give up on a stop request or an exhausted
        budget (the first failure of a write starts its budget). urllib3's own arguments after
        ``error`` (its pool and stack trace) are passed on as they come."""
        if self.stop.is_set():
            raise WriteInterruptedError
        retry = self
        now = time.monotonic()
        if not self.history:
            retry = self.new(deadline=now + self.max_retry_time)
        elif self.deadline is not None and now > self.deadline:
            retry = self.new(total=0)  # out of time: urllib3 raises MaxRetryError below
        new = Retry.increment(retry, method, url, response, error, *args, **kwargs)
        if response is not None:
            reason = f"HTTP {response.status}"
        else:
            reason = connection_reason(error) if error is not None else "no answer"
        _LOG.warning(
            "A write to InfluxDB failed (%s); retry %d of %d.",
            reason,
            len(new.history),
            len(new.history) + (new.total or 0),
        )
        return new


def retry_policy(connection: Connection, stop: threading.Event | None = None) -> WriteRetry:
    """The retry policy of both flavours (POST allowed; the last response is returned instead
    of raising, so that its status and body reach the error message; a redirect is returned,
    not followed)."""
    return WriteRetry(
        total=connection.max_retries,
        redirect=False,
        retry_interval=connection.retry_interval,
        max_retry_time=connection.max_retry_time,
        stop=stop,
        allowed_methods=["POST"],
        raise_on_status=False,
        retry_after_max=int(MAX_RETRY_DELAY),
    )


class V1Writer:
    """POST ``/write?db=&rp=&precision=`` of InfluxDB 1.x, user and password as basic auth.

    Basic auth keeps the password out of the URL, which urllib3 puts in its error messages.
    """

    def __init__(
        self,
        connection: Connection,
        destination: V1Destination,
        precision: str,
        stop: threading.Event | None = None,
    ) -> None:
        self.connection = connection
        self.destination = destination
        self._session = requests.Session()
        adapter = HTTPAdapter(max_retries=retry_policy(connection, stop))
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.verify = connection.verify_ssl
        if destination.username or destination.password:
            self._session.auth = (destination.username or "", destination.password or "")
        self._url = connection.endpoint("/write")
        self._nanoseconds = NANOSECONDS[precision]
        self._params = {"db": destination.database, "precision": precision}
        if destination.retention_policy:
            self._params["rp"] = destination.retention_policy

    def write(self, body: bytes, points: int | None = None) -> None:
        """POST one batch; raise WriteError unless the server answers 204."""
        try:
            response = self._session.post(
                self._url,
                params=self._params,
                data=body,
                timeout=self.connection.timeout,
                headers={"Content-Type": "text/plain; charset=utf-8"},
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise unreachable(self.connection, exc) from None
        status = response.status_code
        if status == STORED:
            return
        if status < 400:
            raise not_a_write_endpoint(
                self.connection, self.destination, status, response.headers, response.text
            )
        raise rejected(self.connection, self.destination, status, response.text, points)

    def delete(self, points: Sequence[DeletedPoint]) -> None:
        """InfluxQL ``DELETE FROM … WHERE <every tag> AND time = …`` through ``/query``, up to
        :data:`DELETES_PER_REQUEST` statements in one POST. InfluxDB 1.x deletes in every
        retention policy of the database; a tag the point has no value for matches as ``''``."""
        for start in range(0, len(points), DELETES_PER_REQUEST):
            chunk = points[start : start + DELETES_PER_REQUEST]
            query = ";".join(self._delete_statement(point) for point in chunk)
            try:
                response = self._session.post(
                    self.connection.endpoint("/query"),
                    data={"q": query, "db": self.destination.database},
                    timeout=self.connection.timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                raise unreachable(self.connection, exc) from None
            try:
                results = response.json()["results"] if response.status_code == 200 else None
            except (ValueError, KeyError, TypeError):
                results = None
            if response.status_code == 200 and isinstance(results, list):
                failed = [r["error"] for r in results if isinstance(r, dict) and "error" in r]
                if not failed:
                    continue
                raise refused_delete(self.connection, self.destination, 200, failed[0], len(chunk))
            if response.status_code < 400:
                raise not_a_write_endpoint(
                    self.connection,
                    self.destination,
                    response.status_code,
                    response.headers,
                    response.text,
                )
            raise refused_delete(
                self.connection,
                self.destination,
                response.status_code,
                server_message(response.text),
                len(chunk),
            )

    def _delete_statement(self, point: DeletedPoint) -> str:
        where = [f"{_quoted(tag)} = {_quoted(text, QUOTE)}" for tag, text in point.tags]
        where.append(f"time = {point.time * self._nanoseconds}")
        # Every name and value is quoted and escaped (_quoted): no injection.
        return f"DELETE FROM {_quoted(point.measurement)} WHERE {' AND '.join(where)}"  # noqa: S608

    def close(self) -> None:
        """Close the session's connections."""
        self._session.close()


QUOTE = "'"  # an InfluxQL string's


def _quoted(text: str, quote: str = '"') -> str:
    """``text`` in ``quote`` marks, backslash-escaped: an InfluxQL identifier (double), an
    InfluxQL string (single), a v2 delete predicate's value (double)."""
    return quote + text.replace("\\", "\\\\").replace(quote, "\\" + quote) + quote


class V2Writer:
    """``/api/v2/write`` through influxdb-client's ``WriteService`` (its write API's own call,
    which also gives the answer's status) with :class:`WriteRetry`."""

    def __init__(
        self,
        connection: Connection,
        destination: V2Destination,
        precision: str,
        stop: threading.Event | None = None,
    ) -> None:
        # Imported here: the package costs about a second to import, and only v2 writes use it.
        from influxdb_client import InfluxDBClient, WriteService

        self.connection = connection
        self.destination = destination
        self.precision = precision
        self._client = InfluxDBClient(
            url=connection.url,
            token=destination.token or "",  # empty: no Authorization header
            org=destination.org or "",
            timeout=int(connection.timeout * 1000),
            verify_ssl=connection.verify_ssl,
            retries=retry_policy(connection, stop),
        )
        self._service = WriteService(self._client.api_client)

    def write(self, body: bytes, points: int | None = None) -> None:
        """Write one batch; raise WriteError unless the server answers 204 (not on a 422)."""
        self._call(
            lambda: self._service.post_write_with_http_info(
                org=self.destination.org or "",
                bucket=self.destination.bucket,
                body=body,
                precision=self.precision,
                content_type="text/plain; charset=utf-8",
                _preload_content=False,
            ),
            lambda status, text: rejected(self.connection, self.destination, status, text, points),
        )

    def delete(self, points: Sequence[DeletedPoint]) -> None:
        """``/api/v2/delete`` through influxdb-client's ``DeleteService``, one request per
        point: start and stop are the point's time (both inclusive), the predicate its
        measurement and the tags it has a value for (a v2 predicate cannot ask for a missing
        tag)."""
        from influxdb_client import DeletePredicateRequest, DeleteService

        service = DeleteService(self._client.api_client)
        for point in points:
            moment = _rfc3339(point.time * NANOSECONDS[self.precision])
            predicate = " AND ".join(
                [f"_measurement={_quoted(point.measurement)}"]
                + [f"{_key(tag)}={_quoted(text)}" for tag, text in point.tags if text]
            )
            request = DeletePredicateRequest(start=moment, stop=moment, predicate=predicate)
            self._call(
                lambda request=request: service.post_delete_with_http_info(
                    request,
                    org=self.destination.org or "",
                    bucket=self.destination.bucket,
                    _preload_content=False,
                ),
                lambda status, text: refused_delete(
                    self.connection, self.destination, status, server_message(text), len(points)
                ),
            )

    def _call(
        self,
        request: Callable[[], tuple[Any, int, Any]],
        refused: Callable[[int, str], WriteError],
    ) -> None:
        """Send one request of influxdb-client's services (``_preload_content=False``); raise
        ``refused(status, body)`` for a refusal, and WriteError unless it answered 204."""
        from influxdb_client.rest import ApiException  # (loaded by __init__ already)

        try:
            response, status, headers = request()
        except ApiException as exc:
            answer = exc.body or b""
            text = answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
            status = int(exc.status or 0)
            if 300 <= status < 400:
                raise not_a_write_endpoint(
                    self.connection, self.destination, status, exc.headers or {}, text
                ) from None
            raise refused(status, text) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise unreachable(self.connection, exc) from None
        text = response.data.decode("utf-8", "replace")
        response.release_conn()
        if status != STORED:
            raise not_a_write_endpoint(self.connection, self.destination, status, headers, text)

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()


def _rfc3339(nanoseconds: int) -> str:
    """A time in nanoseconds since the epoch as RFC 3339 with nanoseconds."""
    seconds, fraction = divmod(nanoseconds, 10**9)
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:09d}Z"


def _key(name: str) -> str:
    """A v2 delete predicate's tag key: as it is when a plain name, else double-quoted."""
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else _quoted(name)


def open_writer(
    connection: Connection,
    destination: Destination,
    precision: str,
    stop: threading.Event | None = None,
) -> Writer:
    """A writer of the flavour that ``destination`` belongs to; ``stop`` ends its retries."""
    if isinstance(destination, V1Destination):
        return V1Writer(connection, destination, precision, stop)
    return V2Writer(connection, destination, precision, stop)


@dataclass(frozen=True)
class Server:
    """What the server's ``/ping`` says of it."""

    version: str | None  # its X-Influxdb-Version header (InfluxDB sends one)
    #: VictoriaMetrics sends X-Server-Hostname on every answer and no X-Influxdb-Version.
    victoria_metrics: bool
    unreachable: WriteError | None = None  # why /ping got no answer


def ping(connection: Connection) -> Server:
    """Ask the server's ``/ping`` what it is."""
    try:
        response = requests.get(
            connection.endpoint("/ping"),
            timeout=connection.timeout,
            verify=connection.verify_ssl,
        )
    except requests.RequestException as exc:
        return Server(
            None, victoria_metrics=False, unreachable=unreachable(connection, exc, retried=False)
        )
    version = response.headers.get("X-Influxdb-Version")
    return Server(version, version is None and "X-Server-Hostname" in response.headers)
