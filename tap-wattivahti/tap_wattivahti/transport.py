"""HTTP for every request of the tap: a total deadline per request, backoff waits (``Retry-After``
honoured), a retried GET for the price sources, short excerpts of answers for messages.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from typing_extensions import override
from urllib3.util import Retry

from tap_wattivahti import compat

_EXCERPT_CHARS = 300
_READ_BYTES = 65536
#: The longest wait before a retry, whatever the backoff or a ``Retry-After`` asks.
MAX_WAIT_SECONDS = 300.0


class DeadlineAdapter(HTTPAdapter):
    """Makes a request's ``timeout`` a deadline for the whole exchange, not for each read.

    requests applies ``timeout`` to every socket operation, so an answer that trickles in a
    byte at a time never times out. Here a number ``timeout`` bounds connecting, waiting for
    the answer and reading its whole body together (the status line and headers wait at most
    the time left, per read); past it, :class:`requests.ReadTimeout` is raised, which is
    retried like any timeout. Redirects followed by the session get a deadline each. (What
    requests and urllib3 do here: docs/library-notes.md#requests-read-deadline.)
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
        compat.set_content(response, body)
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


def retry_after(response: requests.Response, cap: float) -> float | None:
    """Seconds the answer's ``Retry-After`` asks to wait (seconds or an HTTP date), at most
    ``cap``; None without a valid one."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return Retry(retry_after_max=int(cap)).parse_retry_after(value)
    except urllib3.exceptions.InvalidHeader:
        return None


def backoff_wait(attempt: int, first_wait: float, asked: float | None = None) -> float:
    """Seconds before retry ``attempt + 1``: ``first_wait`` doubled per retry, at most
    :data:`MAX_WAIT_SECONDS`; a 429's ``Retry-After`` (``asked``, already capped) wins."""
    if asked is not None:
        return asked
    return min(first_wait * 2**attempt, MAX_WAIT_SECONDS)


def jitter(wait: float) -> float:
    """Up to 10 % more than ``wait`` (never less: a ``Retry-After`` is a minimum)."""
    return wait * (1 + random.random() / 10)  # noqa: S311 - jitter, not cryptography


def describe_failure(failure: requests.Response | BaseException | None) -> str:
    """A failed attempt in a few words (``HTTP 503 Service Unavailable``, ``timed out``), never
    with a URL (it may carry a secret)."""
    if isinstance(failure, requests.Response):
        return f"HTTP {failure.status_code} {failure.reason}".rstrip()
    if isinstance(failure, requests.Timeout):
        return "timed out"
    if isinstance(failure, requests.ConnectionError):
        return "connection failed"
    return type(failure).__name__


class Unanswered(Exception):
    """Every attempt of a request failed (429, 5xx, dropped connection, timeout)."""

    def __init__(self, attempts: int, last: str) -> None:
        """``attempts`` made; ``last`` describes the last failure (:func:`describe_failure`)."""
        super().__init__(f"after {attempts} attempts ({last})")
        self.attempts = attempts
        self.last = last


@dataclass
class Http:
    """Retried GETs, as the meter streams retry: each attempt within ``timeout_seconds`` in all
    (:class:`DeadlineAdapter`); 429, 5xx, dropped connections and timeouts retried up to
    ``max_retries`` times with :func:`backoff_wait`. Used by the price sources."""

    timeout_seconds: float
    max_retries: int
    retry_wait_seconds: float
    logger: logging.Logger
    session: requests.Session = field(default_factory=deadline_session)

    def get(self, url: str, params: dict[str, str], what: str) -> requests.Response:
        """The first answer to ``GET url?params`` that is not a 429 or 5xx; ``what`` names the
        request in retry warnings (and holds no secret). Raises :class:`Unanswered`."""
        attempt = 0
        while True:
            failure: requests.Response | requests.RequestException
            try:
                response = self.session.get(url, params=params, timeout=self.timeout_seconds)
            except (requests.ConnectionError, requests.Timeout) as exc:
                failure, asked = exc, None
            else:
                if response.status_code != 429 and response.status_code < 500:
                    return response
                failure = response
                asked = None
                if response.status_code == 429:
                    asked = retry_after(response, MAX_WAIT_SECONDS)
            if attempt == self.max_retries:
                raise Unanswered(attempt + 1, describe_failure(failure))
            wait = jitter(backoff_wait(attempt, self.retry_wait_seconds, asked))
            attempt += 1
            self.logger.warning(
                "%s failed (%s); retry %d of %d in %.1f s.",
                what,
                describe_failure(failure),
                attempt,
                self.max_retries,
                wait,
            )
            time.sleep(wait)
