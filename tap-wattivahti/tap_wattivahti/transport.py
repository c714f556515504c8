"""HTTP for the API and the token endpoint alike: a total deadline per request, ``Retry-After``,
short excerpts of answers for messages.
"""

from __future__ import annotations

import time

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from typing_extensions import override
from urllib3.util import Retry

from tap_wattivahti import compat

_EXCERPT_CHARS = 300
_READ_BYTES = 65536


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
