"""Synchronous, retried writes of line protocol: ``/write`` (v1) and ``/api/v2/write`` (v2).

Both flavours use one retry policy, :class:`WriteRetry` (429 with or without ``Retry-After``,
5xx, connection errors; bounded exponential backoff, as influxdb-client's ``WritesRetry``), and
both raise :class:`WriteError` with a message a user can act on when a batch is finally not
acknowledged. A stop request (a signal) ends the retries: the request on the wire finishes or
times out, and no further attempt is made.

The target writes from one background thread at a time (see ``durability.py``); a writer is
never used by two threads at once. influxdb-client is imported only by the v2 writer: importing
it costs about a second, which every v1 run would otherwise pay at start-up.
"""

from __future__ import annotations

import json
import logging
import random
import re
import sys
import threading
import time
from dataclasses import dataclass
from itertools import takewhile
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from target_influxdb.errors import WriteError, WriteInterruptedError

if sys.version_info >= (3, 12):
    from typing import Self, override
else:
    from typing_extensions import Self, override

if TYPE_CHECKING:
    from types import TracebackType

    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

_LOG = logging.getLogger("target-influxdb.writes")
MAX_RETRY_DELAY = 125.0  # seconds: the longest wait between two tries, also for Retry-After


@dataclass(frozen=True)
class Connection:
    """Where the server is and how patiently to talk to it."""

    url: str
    timeout: float = 30.0
    verify_ssl: bool = True
    max_retries: int = 5
    retry_interval: float = 5.0

    @property
    def display_url(self) -> str:
        """The URL without any user or password in it, for messages."""
        return display_url(self.url)

    def endpoint(self, path: str) -> str:
        """``path`` under the server URL (which may carry a reverse proxy's path prefix)."""
        return self.url.rstrip("/") + path

    @property
    def max_retry_time(self) -> float:
        """The retry budget of one write: room for every backoff at its longest, plus timeouts."""
        waits = sum(
            min(self.retry_interval * 2 ** (attempt + 1), MAX_RETRY_DELAY)
            for attempt in range(self.max_retries)
        )
        return waits + self.timeout * (self.max_retries + 1)


@dataclass(frozen=True)
class V1Destination:
    """InfluxDB 1.x ``/write``: a database, its retention policy, a user."""

    database: str
    retention_policy: str | None = None
    username: str | None = None
    password: str | None = None

    def describe(self) -> str:
        """How messages name this destination."""
        policy = f", retention policy '{self.retention_policy}'" if self.retention_policy else ""
        return f"database '{self.database}'{policy}"


@dataclass(frozen=True)
class V2Destination:
    """``/api/v2/write``: a bucket in an org, with a token."""

    bucket: str
    org: str | None = None
    token: str | None = None

    def describe(self) -> str:
        """How messages name this destination."""
        org = f" in org '{self.org}'" if self.org else ""
        return f"bucket '{self.bucket}'{org}"


Destination = V1Destination | V2Destination


class Writer(Protocol):
    """Writes one batch of line protocol, returning only once the server acknowledged it."""

    def write(self, body: bytes, points: int | None = None) -> None:
        """Write ``body`` (``points`` lines joined by newlines) or raise WriteError."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def display_url(url: str) -> str:
    """``url`` with any ``user:password@`` removed."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


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
        retry_interval: float = 5.0,
        max_retry_time: float = 180.0,
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
            self._is_method_retryable(method)
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
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        """Count one more failure: log it, and give up on a stop request or an exhausted
        budget (the first failure of a write starts its budget)."""
        if self.stop.is_set():
            raise WriteInterruptedError
        retry = self
        now = time.monotonic()
        if not self.history:
            retry = self.new(deadline=now + self.max_retry_time)
        elif self.deadline is not None and now > self.deadline:
            retry = self.new(total=0)  # out of time: urllib3 raises MaxRetryError below
        new = Retry.increment(retry, method, url, response, error, _pool, _stacktrace)
        if response is not None:
            reason = f"HTTP {response.status}"
        else:
            reason = _connection_reason(error) if error is not None else "no answer"
        _LOG.warning(
            "A write to InfluxDB failed (%s); retry %d of %d.",
            reason,
            len(new.history),
            len(new.history) + (new.total or 0),
        )
        return new


def retry_policy(connection: Connection, stop: threading.Event | None = None) -> WriteRetry:
    """The retry policy of both flavours (POST allowed; the last response is returned instead
    of raising, so that its status and body reach the error message)."""
    return WriteRetry(
        total=connection.max_retries,
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
        self._params = {"db": destination.database, "precision": precision}
        if destination.retention_policy:
            self._params["rp"] = destination.retention_policy

    def write(self, body: bytes, points: int | None = None) -> None:
        """POST one batch; raise WriteError unless the server answers 2xx."""
        try:
            response = self._session.post(
                self._url,
                params=self._params,
                data=body,
                timeout=self.connection.timeout,
                headers={"Content-Type": "text/plain; charset=utf-8"},
            )
        except requests.RequestException as exc:
            raise unreachable(self.connection, exc) from None
        if response.status_code >= 300:
            raise explain_rejection(
                self.connection, self.destination, response.status_code, response.text, points
            )

    def close(self) -> None:
        """Close the session's connections."""
        self._session.close()


class V2Writer:
    """influxdb-client's synchronous write API (``/api/v2/write``) with :class:`WriteRetry`."""

    def __init__(
        self,
        connection: Connection,
        destination: V2Destination,
        precision: str,
        stop: threading.Event | None = None,
    ) -> None:
        # Imported here: the package costs about a second to import, and only v2 writes use it.
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

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
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)

    def write(self, body: bytes, points: int | None = None) -> None:
        """Write one batch; raise WriteError unless the server answers 2xx (422 included)."""
        from influxdb_client.rest import ApiException  # (loaded by __init__ already)

        try:
            self._write_api.write(
                bucket=self.destination.bucket,
                org=self.destination.org or "",
                record=body,
                write_precision=cast("Any", self.precision),
            )
        except ApiException as exc:
            body = exc.body or b""
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
            status = int(exc.status or 0)
            raise explain_rejection(
                self.connection, self.destination, status, text, points
            ) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise unreachable(self.connection, exc) from None

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()


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


def server_version(connection: Connection) -> str | None:
    """The ``X-Influxdb-Version`` header of ``/ping`` (None when the server does not send one)."""
    try:
        response = requests.get(
            connection.endpoint("/ping"),
            timeout=connection.timeout,
            verify=connection.verify_ssl,
        )
    except requests.RequestException as exc:
        raise unreachable(connection, exc, retried=False) from None
    return response.headers.get("X-Influxdb-Version")


def unreachable(connection: Connection, exc: BaseException, *, retried: bool = True) -> WriteError:
    """The error for a server that could not be reached (or kept dropping the connection)."""
    reason = _connection_reason(exc)
    tries = f" (after up to {connection.max_retries} retries)" if retried else ""
    return WriteError(
        f"Cannot reach InfluxDB at {connection.display_url}{tries}: {reason}. Check the `url` "
        "setting and that the server is running and reachable from here. Nothing after the "
        "last STATE message was confirmed, so the next run repeats it."
    )


def _connection_reason(exc: BaseException) -> str:
    """The innermost cause of a connection failure, without the pool's repr."""
    reason: BaseException = exc
    while True:
        inner = getattr(reason, "reason", None)
        if not isinstance(inner, BaseException) and reason.args:
            inner = reason.args[0]
        if not isinstance(inner, BaseException) or inner is reason:
            break
        reason = inner
    text = str(reason)
    return text.split("): ", 1)[-1] if text.startswith("HTTP") else text or type(reason).__name__


def server_message(text: str) -> str:
    """The error text of a response body: ``{"error": ...}`` (1.x), ``{"message": ...}`` (2.x)."""
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(body, dict):
        for key in ("error", "message"):
            if isinstance(body.get(key), str):
                return body[key]
    return text.strip()


_TYPE_CONFLICT = re.compile(
    r'field type conflict: input field "(?P<field>.+?)" on measurement "(?P<measurement>.+?)" '
    r"is type (?P<sent>\w+), already exists as type (?P<stored>\w+)"
)


def explain_rejection(
    connection: Connection,
    destination: Destination,
    status: int,
    text: str,
    points: int | None = None,
) -> WriteError:
    """The error for a batch the server answered with a non-2xx status (after retries)."""
    message = server_message(text)
    where = f"InfluxDB at {connection.display_url}"
    v1 = isinstance(destination, V1Destination)
    conflict = _TYPE_CONFLICT.search(message)
    if conflict:
        return WriteError(
            f"Field type conflict in measurement '{conflict['measurement']}': field "
            f"'{conflict['field']}' was sent as {conflict['sent']} but {where} already stores it "
            f"as {conflict['stored']} ({destination.describe()}; HTTP {status}). A field keeps one "
            "type per shard, and this target types fields from the stream's schema. Either the "
            "schema's type for that property changed, or older data were written by another "
            "program: write to a new measurement (the `measurements` setting), or delete the old "
            "series (DROP SERIES / a new bucket or database) and load again."
        )
    if status in (401, 403):
        who = (
            "`username`/`password` are missing or wrong, or that user lacks WRITE permission "
            f'on {destination.describe()} (GRANT WRITE ON "{destination.database}" TO <user>)'
            if isinstance(destination, V1Destination)
            else "`token` is missing or wrong, or it lacks write permission on "
            f"{destination.describe()} (create one with write access to that bucket)"
        )
        return WriteError(f"{where} refused the write with HTTP {status} ({message}): the {who}.")
    if status == 404:
        return WriteError(_not_found(where, destination, message))
    if v1 and "retention policy not found" in message:
        return WriteError(
            f"{where} has no retention policy '{destination.retention_policy}' in "
            f"{destination.describe()} ({message}). Create it (CREATE RETENTION POLICY ...) or "
            "leave `retention_policy` unset to use the database's default."
        )
    if status == 413:
        return WriteError(
            f"{where} refused a batch as too large (HTTP 413: {message}). "
            + (
                "Lower `batch_size_rows`."
                if points != 1
                else "A single point is over the server's request size limit: raise the "
                "server's limit (e.g. `max-body-size` in InfluxDB 1.x's [http] section), or "
                "leave the largest properties out with a stream map."
            )
        )
    if status == 429 or status >= 500:
        return WriteError(
            f"{where} kept failing with HTTP {status} ({message}) after "
            f"{connection.max_retries} retries. The server is overloaded or unhealthy; nothing "
            "after the last STATE message was confirmed, so the next run repeats it."
        )
    partial = (
        " Some points of the batch may have been stored." if "partial write" in message else ""
    )
    return WriteError(
        f"{where} rejected a batch for {destination.describe()} with HTTP {status}: "
        f"{message}.{partial} The run stops without STATE for it, so the next run repeats it."
    )


def _not_found(where: str, destination: Destination, message: str) -> str:
    if isinstance(destination, V1Destination):
        if "database not found" in message:
            return (
                f"{where} has no database '{destination.database}' ({message}). Create it, e.g. "
                f"`influx -execute 'CREATE DATABASE \"{destination.database}\"'`, or correct "
                "the `database` setting."
            )
        return (
            f"{where} has no InfluxDB 1.x /write endpoint (HTTP 404: {message}). If it is "
            "InfluxDB 2.x, 3.x or Cloud, set `api_version: v2` with `bucket`, `org` and `token`."
        )
    if "page not found" in message:
        return (
            f"{where} has no /api/v2/write endpoint (HTTP 404: {message}); InfluxDB 1.x before "
            "1.8 has none. Set `api_version: v1` with `database` (and `username`/`password`)."
        )
    return (
        f"{where} cannot find {destination.describe()} (HTTP 404: {message}). Create it, e.g. "
        f"`influx bucket create --name {destination.bucket} --org {destination.org or '<org>'}`, "
        "or correct the `bucket` and `org` settings."
    )
