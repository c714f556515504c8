"""The rotating refresh token: a file store that never loses it, and the access-token authenticator.

WattiVahti's B2C token endpoint answers every refresh grant with a NEW refresh token and retires
the old one. So:

* the token file wins over the ``refresh_token`` setting, which only seeds a missing or empty
  file;
* a rotated token is on disk (temporary file in the same folder, fsync, atomic replace, mode
  0600, folder fsync) before the access token that came with it is used;
* one refresh per run; another only when the access token expires or the API answers 401;
* a refresh POST that the server may have consumed is never retried blindly: only failures that
  prove the server did not take it (no connection made, HTTP 429 or 503) are retried.

Concurrent runs sharing one token file take an advisory lock (on its folder) around
read-refresh-write, so an overlapping run reads the token the other one just stored instead of a
retired one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import urllib3.exceptions
from requests.auth import AuthBase
from typing_extensions import override

from tap_wattivahti.errors import TokenError

if sys.platform != "win32":
    import fcntl

LOGIN_COMMAND = "wattivahti-login"
# Failures after which the server certainly did not consume the refresh token.
_NOT_PROCESSED_STATUSES = frozenset({429, 503})
_GRANT_ATTEMPTS = 3
_MAX_RETRY_AFTER_SECONDS = 60.0


class TokenStore:
    """The file that holds the current refresh token.

    ``seed`` (the ``refresh_token`` setting) is written to the file only when the file is missing
    or empty; once the file holds a token, the file wins.
    """

    def __init__(self, path: str | os.PathLike[str], seed: str | None = None) -> None:
        """Remember where the token lives (made absolute now, so messages name the real file)."""
        self.path = Path(path).expanduser().absolute()
        self._seed = (seed or "").strip() or None

    def read(self) -> str:
        """The current refresh token, seeding the file from the setting when it has none."""
        token = self._read_file()
        if token:
            return token
        if self._seed:
            self.write(self._seed)
            return self._seed
        state = "is empty" if self.path.exists() else "does not exist"
        msg = (
            f"No WattiVahti refresh token: the token file {self.path} {state} and the "
            f"refresh_token setting is not set. Run `{LOGIN_COMMAND}` to log in with your "
            f"WattiVahti username and password; it writes a fresh token to that file (or set "
            f"refresh_token_file to where your token is)."
        )
        raise TokenError(msg)

    def _read_file(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None
        except OSError as exc:
            msg = f"Cannot read the refresh token file {self.path}: {exc.strerror}."
            raise TokenError(msg) from exc

    def write(self, token: str) -> None:
        """Replace the stored token atomically; the file is private (mode 0600) and durable."""
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=folder)
            try:
                os.fchmod(handle, 0o600)
                os.write(handle, (token.strip() + "\n").encode("utf-8"))
                os.fsync(handle)
            finally:
                os.close(handle)
            try:
                os.replace(temporary, self.path)
            except OSError:
                os.unlink(temporary)
                raise
            _fsync_folder(folder)
        except OSError as exc:
            msg = (
                f"Cannot write the refresh token file {self.path}: {exc.strerror}. The folder "
                f"must exist and be writable: every run stores the rotated token there."
            )
            raise TokenError(msg) from exc

    @contextlib.contextmanager
    def locked(self) -> Generator[None]:
        """Hold an advisory lock shared by every process that uses this token file.

        The lock is taken on the token file's folder (which exists once there is a token), so
        no lock file is left beside the token.
        """
        if sys.platform == "win32":
            yield
            return
        try:
            handle = os.open(self.path.parent, os.O_RDONLY)
        except OSError as exc:
            msg = f"Cannot open the folder {self.path.parent} to lock it: {exc.strerror}."
            raise TokenError(msg) from exc
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
        finally:
            os.close(handle)


def _fsync_folder(folder: Path) -> None:
    if sys.platform == "win32":
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


@dataclass(frozen=True)
class TokenAnswer:
    """What a successful token grant returned (``refresh_token`` is None if it did not rotate)."""

    access_token: str
    refresh_token: str | None
    expires_in: float


@dataclass(frozen=True)
class TokenEndpoint:
    """Where and as whom to ask for tokens."""

    url: str
    client_id: str
    scope: str
    timeout: float = 60.0
    retry_wait_seconds: float = 2.0


class _RetryableTokenFailure(Exception):
    """The token endpoint did not process the grant; ``wait`` is the suggested delay."""

    def __init__(self, message: str, wait: float | None = None) -> None:
        super().__init__(message)
        self.wait = wait


def post_grant(
    endpoint: TokenEndpoint,
    form: dict[str, str],
    *,
    what: str,
    session: requests.Session | None = None,
    logger: logging.Logger | None = None,
) -> TokenAnswer:
    """POST a grant to the token endpoint, retrying only failures the server did not process.

    ``what`` names the grant in messages. A plain session without automatic retries is used:
    a single-use refresh token must never be sent twice by a transport layer.
    """
    owned = session is None
    session = session or requests.Session()
    attempt = 1
    try:
        while True:
            try:
                return _post_once(session, endpoint, form, what)
            except _RetryableTokenFailure as failure:
                if attempt == _GRANT_ATTEMPTS:
                    msg = f"{failure} Gave up after {attempt} attempts; try again later."
                    raise TokenError(msg) from None
                wait = failure.wait
                if wait is None:
                    wait = endpoint.retry_wait_seconds * 2 ** (attempt - 1)
                if logger is not None:
                    logger.warning("%s Retrying in %.1f s.", failure, wait)
                time.sleep(wait)
                attempt += 1
    finally:
        if owned:
            session.close()


def _post_once(
    session: requests.Session, endpoint: TokenEndpoint, form: dict[str, str], what: str
) -> TokenAnswer:
    try:
        response = session.post(
            endpoint.url, data=form, timeout=endpoint.timeout, allow_redirects=False
        )
    except requests.RequestException as exc:
        if _never_reached_server(exc):
            msg = f"Could not connect to the WattiVahti token endpoint for the {what}."
            raise _RetryableTokenFailure(msg) from exc
        msg = (
            f"The connection to the WattiVahti token endpoint failed during the {what} "
            f"({type(exc).__name__}) after the request was sent. The server may have used up "
            f"the refresh token without the new one reaching this machine, so the request is "
            f"not repeated. Run the tap again: if it then reports an expired or already used "
            f"token, run `{LOGIN_COMMAND}`."
        )
        raise TokenError(msg) from exc
    if response.status_code in _NOT_PROCESSED_STATUSES:
        msg = f"The WattiVahti token endpoint answered HTTP {response.status_code} to the {what}."
        raise _RetryableTokenFailure(msg, _retry_after(response))
    if response.status_code != 200:
        raise TokenError(_refusal_message(response, what))
    try:
        body: Any = response.json()
        access = body["access_token"]
        expires_in = float(body.get("expires_in") or 3600)
    except (ValueError, KeyError, TypeError) as exc:
        msg = (
            f"The WattiVahti token endpoint answered the {what} with HTTP 200 but without a "
            f"usable access token (the answer is not the expected JSON)."
        )
        raise TokenError(msg) from exc
    refresh = body.get("refresh_token") or None
    return TokenAnswer(str(access), str(refresh) if refresh else None, expires_in)


def _refusal_message(response: requests.Response, what: str) -> str:
    try:
        body = response.json()
        error = str(body.get("error", ""))
        description = str(body.get("error_description", "")).splitlines()[0]
    except (ValueError, AttributeError, IndexError):
        error, description = "", response.text[:200].strip()
    if error == "invalid_grant":
        return (
            f"WattiVahti refused the refresh token: it has expired or was already used "
            f"({description}). Run `{LOGIN_COMMAND}` to log in again; it writes a new token "
            f"to the token file."
        )
    detail = f"{error}: {description}" if error else description
    return (
        f"The WattiVahti token endpoint refused the {what} with HTTP {response.status_code}"
        f" ({detail}). Check the token_url, client_id and scope settings."
    )


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER_SECONDS)
    except ValueError:
        return None


def _never_reached_server(exc: BaseException) -> bool:
    """True when the request surely never reached the server (refused, unresolvable, timeout)."""
    pending: list[Any] = [exc]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(
            item,
            (
                requests.exceptions.ConnectTimeout,
                urllib3.exceptions.NewConnectionError,
                urllib3.exceptions.ConnectTimeoutError,
            ),
        ):
            return True
        if isinstance(item, BaseException):
            pending.extend([*item.args, item.__cause__, item.__context__])
            pending.append(getattr(item, "reason", None))
    return False


def rotate_refresh_token(
    store: TokenStore, endpoint: TokenEndpoint, logger: logging.Logger | None = None
) -> TokenAnswer:
    """One refresh grant with the stored token; a rotated token is stored before returning."""
    store.read()  # fails early (and creates nothing) when there is no token at all
    with store.locked():
        refresh_token = store.read()
        answer = post_grant(
            endpoint,
            {
                "client_id": endpoint.client_id,
                "scope": endpoint.scope,
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_info": "1",
            },
            what="refresh of the access token",
            logger=logger,
        )
        if answer.refresh_token and answer.refresh_token != refresh_token:
            store.write(answer.refresh_token)
    return answer


class WattiVahtiAuthenticator(AuthBase):
    """Adds ``Authorization: Bearer`` to API requests, refreshing the access token as needed.

    One instance per tap run: it refreshes once, then only when the access token is about to
    expire (``expires_in`` less a margin) or after :meth:`invalidate` (an API 401).
    """

    def __init__(self, store: TokenStore, endpoint: TokenEndpoint, logger: logging.Logger) -> None:
        """Use ``store`` for the refresh token and ``endpoint`` for grants."""
        self.store = store
        self.endpoint = endpoint
        self.logger = logger
        self.refresh_count = 0
        self._access_token: str | None = None
        self._expires_at = 0.0

    @override
    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        """Authenticate one request."""
        r.headers["Authorization"] = f"Bearer {self.access_token()}"
        return r

    def access_token(self) -> str:
        """A valid access token, refreshing first when there is none or it is expiring."""
        if self._access_token is None or time.monotonic() >= self._expires_at:
            self.refresh()
        assert self._access_token is not None
        return self._access_token

    def invalidate(self) -> None:
        """Forget the access token (the API refused it): the next request refreshes."""
        self._access_token = None

    def refresh(self) -> None:
        """Exchange the stored refresh token; the rotated one is on disk before we go on."""
        answer = rotate_refresh_token(self.store, self.endpoint, self.logger)
        self.refresh_count += 1
        margin = min(60.0, answer.expires_in / 10)
        self._expires_at = time.monotonic() + answer.expires_in - margin
        self._access_token = answer.access_token
        rotated = "stored the rotated refresh token" if answer.refresh_token else "no rotation"
        self.logger.info(
            "Refreshed the WattiVahti access token (valid %d s; %s in %s).",
            answer.expires_in,
            rotated,
            self.store.path,
        )
