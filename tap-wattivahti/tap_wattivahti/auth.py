"""The rotating refresh token: stores that never lose it, and the access-token authenticator.

WattiVahti's B2C token endpoint answers every refresh grant with a NEW refresh token and retires
the old one. Each account's token lives in a :class:`TokenStore`: a file
(:class:`FileTokenStore`) or a row of the token database
(:class:`tap_wattivahti.token_database.DatabaseTokenStore`). Every store keeps these rules, and
:func:`rotate_refresh_token` and :func:`post_grant` are their one implementation over a store:

* the store wins over the ``refresh_token`` setting, which only seeds a store that has none;
* one refresh per account at a time, anywhere: a grant runs inside :meth:`TokenStore.locked`
  (a lock file beside the token file; the account's row locked in the database), which is held
  from before the grant until the new token is durable; a process that waited for it reads the
  newest token and makes its own grant with that one. The wait lasts at most
  ``token_lock_timeout_seconds``, with a message when it begins and a clear error at its end;
* before a refresh grant, the store is proven writable: a token that could not be stored is
  never sent;
* a rotated token from any HTTP 200 answer is durable (file: temporary file in the same folder,
  fsync, atomic replace, mode 0600, folder fsync; database: committed) before anything else of
  the answer is judged and before the access token that came with it is used; a symlinked token
  file is replaced at the link's target, so the link stays;
* the grant and the write of its answer are one critical section: SIGTERM or SIGINT arriving
  inside it take effect once the new token is stored;
* one refresh per run and account; another only when the access token expires or the API
  answers 401;
* a refresh POST that the server may have consumed is never retried blindly: only failures that
  prove the server did not take it (no connection made, HTTP 429 or 503) are retried.
"""

from __future__ import annotations

import abc
import contextlib
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests
import urllib3.exceptions
from requests.auth import AuthBase
from typing_extensions import override

from tap_wattivahti.errors import TokenError
from tap_wattivahti.transport import deadline_session, excerpt, retry_after

if TYPE_CHECKING:
    from tap_wattivahti.settings import Account, TokenSettings

if sys.platform != "win32":
    import fcntl

LOGIN_COMMAND = "wattivahti-login"
# Failures after which the server certainly did not consume the refresh token.
_NOT_PROCESSED_STATUSES = frozenset({429, 503})
_GRANT_ATTEMPTS = 3
_MAX_RETRY_AFTER_SECONDS = 60.0
# Bytes the writability proof writes and syncs: more than any refresh token B2C issues.
_PROOF_BYTES = 4096
# Seconds between two tries of a busy lock file.
_LOCK_POLL_SECONDS = 0.05
_DEFERRED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name)
)


class TokenStore(abc.ABC):
    """Where one account's rotating refresh token lives (the rules: the module docstring).

    ``seed`` (the ``refresh_token`` setting) is stored only when the store holds no token; once
    it does, the store wins. ``lock_timeout`` bounds the wait in :meth:`locked`; ``logger``
    says when a wait begins.
    """

    def __init__(
        self,
        account: str,
        seed: str | None = None,
        *,
        lock_timeout: float = 120.0,
        logger: logging.Logger | None = None,
    ) -> None:
        """The store of ``account``'s token."""
        self.account = account
        self._seed = (seed or "").strip() or None
        self.lock_timeout = lock_timeout
        self.logger = logger or logging.getLogger(LOGIN_COMMAND)

    @property
    @abc.abstractmethod
    def where(self) -> str:
        """Where the token lives, for messages (never a secret)."""

    @abc.abstractmethod
    def read(self) -> str:
        """The current refresh token, seeding the store when it has none (else a TokenError
        naming the login command)."""

    @abc.abstractmethod
    def check_writable(self) -> None:
        """Prove that a new token can be stored (before a grant: nothing is sent otherwise)."""

    @abc.abstractmethod
    def write(self, token: str) -> None:
        """Store ``token`` durably (it replaces the old one only once it is durable)."""

    @abc.abstractmethod
    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Hold the account's refresh lock, shared by every process anywhere that uses this
        store, waiting at most ``lock_timeout`` seconds for it."""

    def _waiting(self, holder: str) -> None:
        """Say that another process holds the lock and how long this one waits."""
        self.logger.info(
            "Waiting (at most %g s, token_lock_timeout_seconds) for another process to finish "
            "refreshing the WattiVahti token of account %s: %s.",
            self.lock_timeout,
            self.account,
            holder,
        )

    def _gave_up(self, holder: str, find: str) -> TokenError:
        """The error after waiting ``lock_timeout`` seconds in vain."""
        msg = (
            f"Gave up after waiting {self.lock_timeout:g} s (token_lock_timeout_seconds) for "
            f"another process to finish refreshing the WattiVahti token of account "
            f"{self.account}: {holder}. Nothing was sent to WattiVahti, so the token in "
            f"{self.where} is not used up. A refresh takes a few seconds; if no other run of "
            f"the tap is busy with this account, something else holds the lock (a run stopped "
            f"with Ctrl-Z, a backup tool): {find}, end it, and run again; or raise "
            f"token_lock_timeout_seconds."
        )
        return TokenError(msg)


class FileTokenStore(TokenStore):
    """A token file. When it is a symbolic link, the token is written to the link's target (the
    link stays); the lock file ``.NAME.lock`` lies beside the target."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        seed: str | None = None,
        *,
        account: str = "default",
        lock_timeout: float = 120.0,
        logger: logging.Logger | None = None,
    ) -> None:
        """Remember where the token lives (made absolute now, so messages name the real file)."""
        super().__init__(account, seed, lock_timeout=lock_timeout, logger=logger)
        self.path = Path(path).expanduser().absolute()

    @property
    @override
    def where(self) -> str:
        """The token file."""
        return str(self.path)

    @property
    def target(self) -> Path:
        """The file that is written: the token file, or the file its symbolic link points to."""
        return Path(os.path.realpath(self.path))

    @property
    def folder(self) -> Path:
        """The folder of :attr:`target`, where temporary files are made and the lock file is."""
        return self.target.parent

    @property
    def lock_file(self) -> Path:
        """The lock file beside :attr:`target` (left in place: removing it would let two
        processes hold the lock on two files)."""
        return self.folder / f".{self.target.name}.lock"

    @override
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
            f"No WattiVahti refresh token for account {self.account}: the token file "
            f"{self.path} {state} and no refresh_token is set. Run "
            f"`{login_command(self.account)}` to log in with your WattiVahti username and "
            f"password; it writes a fresh token to that file (or set refresh_token_file to "
            f"where your token is)."
        )
        raise TokenError(msg)

    def _read_file(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            msg = (
                f"The refresh token file {self.path} does not hold a refresh token: it contains "
                f"bytes that are not text (UTF-8), so it is probably another file or a damaged "
                f"one. Run `{login_command(self.account)}` to write a fresh "
                f"token to it, or set refresh_token_file to the file that holds your token."
            )
            raise TokenError(msg) from None
        except OSError as exc:
            msg = f"Cannot read the refresh token file {self.path}: {exc.strerror}."
            raise TokenError(msg) from exc

    @override
    def check_writable(self) -> None:
        """A temporary file is created, synced, removed in the token's folder."""
        folder = self.folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = self._temporary_file()
            try:
                try:
                    os.write(handle, b"\n" * _PROOF_BYTES)
                    os.fsync(handle)
                finally:
                    os.close(handle)
            finally:
                os.unlink(temporary)
        except OSError as exc:
            raise self._not_writable(exc) from exc

    def _not_writable(self, exc: OSError) -> TokenError:
        folder = self.folder
        msg = (
            f"Cannot store a new refresh token in the folder {folder}: {exc.strerror}. "
            f"Nothing was sent to WattiVahti: a token in {self.path} is not used up and "
            f"still works. Make the folder writable for the user that runs this (e.g. "
            f"`chmod u+w {folder}`, and check the disk has room), or set refresh_token_file "
            f"to a file in a writable folder; then run again."
        )
        return TokenError(msg)

    @override
    def write(self, token: str) -> None:
        """Replace the stored token atomically; the file is private (mode 0600) and durable."""
        target, folder = self.target, self.folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = self._temporary_file()
            try:
                os.fchmod(handle, 0o600)
                os.write(handle, (token.strip() + "\n").encode("utf-8"))
                os.fsync(handle)
            finally:
                os.close(handle)
            try:
                os.replace(temporary, target)
            except OSError:
                os.unlink(temporary)
                raise
            _fsync_folder(folder)
        except OSError as exc:
            msg = (
                f"Cannot write the refresh token file {target}: {exc.strerror}. The folder "
                f"must exist and be writable: every run stores the rotated token there."
            )
            raise TokenError(msg) from exc

    def _temporary_file(self) -> tuple[int, str]:
        """A new file ``.NAME.XXXXXXXX`` beside the target (the .gitignore knows the pattern)."""
        return tempfile.mkstemp(prefix=f".{self.target.name}.", dir=self.folder)

    @override
    @contextlib.contextmanager
    def locked(self) -> Generator[None]:
        """An exclusive ``flock`` on :attr:`lock_file`, which the kernel releases when its
        holder ends in any way (also ``kill -9``)."""
        if sys.platform == "win32":
            yield
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise self._not_writable(exc) from exc
        try:
            self._acquire(handle)
            yield
        finally:
            os.close(handle)

    def _acquire(self, handle: int) -> None:
        holder = f"it holds the lock file {self.lock_file}"
        deadline = time.monotonic() + self.lock_timeout
        waiting = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                pass
            if time.monotonic() >= deadline:
                raise self._gave_up(holder, f"find it with `fuser -v {self.lock_file}`")
            if not waiting:
                self._waiting(holder)
                waiting = True
            time.sleep(_LOCK_POLL_SECONDS)


def token_store(
    tokens: TokenSettings, account: Account, logger: logging.Logger | None = None
) -> TokenStore:
    """The store of ``account``'s token: its row of the token database when
    ``token_database_uri`` is set (the driver is imported only then), else its token file."""
    if tokens.token_database_uri is not None:
        from tap_wattivahti.token_database import DatabaseTokenStore

        return DatabaseTokenStore(
            tokens.token_database_uri,
            account.name,
            account.refresh_token,
            lock_timeout=tokens.lock_timeout_seconds,
            logger=logger,
        )
    return FileTokenStore(
        account.refresh_token_file,
        account.refresh_token,
        account=account.name,
        lock_timeout=tokens.lock_timeout_seconds,
        logger=logger,
    )


def login_command(account: str) -> str:
    """The command that logs ``account`` in (``--account NAME`` except for ``default``)."""
    return LOGIN_COMMAND if account == "default" else f"{LOGIN_COMMAND} --account {account}"


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
    """What a successful (HTTP 200) token grant returned.

    ``refresh_token`` is None if it did not rotate; ``access_token`` is None when the answer has
    none, as Azure AD B2C answers a grant whose scope names no resource (the login's code grant).
    """

    access_token: str | None
    refresh_token: str | None
    expires_in: float


@dataclass(frozen=True)
class TokenEndpoint:
    """Where and as whom to ask for tokens."""

    url: str
    client_id: str
    scope: str
    #: Seconds one grant may take in all.
    timeout: float
    #: Seconds before the first retry of a grant the server did not process (doubles each time).
    retry_wait_seconds: float


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
    store: TokenStore | None = None,
    guard: GrantGuard | None = None,
) -> TokenAnswer:
    """POST a grant to the token endpoint, retrying only failures the server did not process.

    ``what`` names the grant in messages. A session without automatic retries is used: a
    single-use refresh token must never be sent twice by a transport layer. With ``store``, a new
    refresh token in any HTTP 200 answer is written there before anything else of the answer is
    judged (the one that was sent may be spent already); each POST and that write are one
    critical section (:func:`signals_deferred`, with ``guard`` in a fetching thread). Whether
    the answer must hold an access token is the caller's to judge
    (:meth:`TokenAnswer.access_token`).
    """
    owned = session is None
    session = session or deadline_session()
    login = LOGIN_COMMAND if store is None else login_command(store.account)
    attempt = 1
    try:
        while True:
            try:
                with signals_deferred(guard):
                    answer = _post_once(session, endpoint, form, what, login)
                    if store is not None:
                        _keep_rotated(store, answer, form)
                    return answer
            except _RetryableTokenFailure as failure:
                if attempt == _GRANT_ATTEMPTS:
                    msg = f"{failure} Gave up after {attempt} attempts. {_unspent(form)}"
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


def _keep_rotated(store: TokenStore, answer: TokenAnswer, form: dict[str, str]) -> None:
    if not answer.refresh_token or answer.refresh_token == form.get("refresh_token"):
        return
    try:
        store.write(answer.refresh_token)
    except TokenError as exc:
        spent = (
            f" The token that was sent is now used up: once {store.where} can be written, "
            f"run `{login_command(store.account)}` to log in again."
            if "refresh_token" in form
            else ""
        )
        msg = f"WattiVahti issued a new refresh token but it could not be stored. {exc}{spent}"
        raise TokenError(msg) from exc


class GrantGuard:
    """The grants in progress in threads other than the main one (the tap's fetching threads),
    where signals cannot be held back: a stopping run closes the guard, which waits for them to
    store their tokens and lets no new one begin."""

    def __init__(self) -> None:
        """An open guard with no grant in progress."""
        self._condition = threading.Condition()
        self._inside = 0
        self._closed = False

    @contextlib.contextmanager
    def section(self) -> Generator[None]:
        """One grant and the write of its answer (refused once the guard is closed: nothing is
        sent then)."""
        with self._condition:
            if self._closed:
                msg = "The run is stopping, so no refresh grant was sent: the token still works."
                raise TokenError(msg)
            self._inside += 1
        try:
            yield
        finally:
            with self._condition:
                self._inside -= 1
                self._condition.notify_all()

    def close(self) -> None:
        """Let no new grant begin, and wait until those in progress are done."""
        with self._condition:
            self._closed = True
            self._condition.wait_for(lambda: self._inside == 0)


@contextlib.contextmanager
def signals_deferred(guard: GrantGuard | None = None) -> Generator[None]:
    """Hold back SIGINT and SIGTERM until the block is done, then deliver them.

    A refresh grant retires the token that was sent; stopping between the answer and the write
    of the new token would lose both. Outside the main thread (where Python cannot set signal
    handlers) the block is a section of ``guard``, which the stopping run waits for; without
    one it runs unprotected.
    """
    if threading.current_thread() is not threading.main_thread():
        with guard.section() if guard is not None else contextlib.nullcontext():
            yield
        return
    arrived: list[int] = []
    # A handler not set from Python (getsignal gives None) cannot be put back: left alone.
    previous = {n: h for n in _DEFERRED_SIGNALS if (h := signal.getsignal(n)) is not None}
    for number in previous:
        signal.signal(number, lambda received, _frame: arrived.append(received))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in arrived:
            signal.raise_signal(number)


def _post_once(
    session: requests.Session,
    endpoint: TokenEndpoint,
    form: dict[str, str],
    what: str,
    login: str,
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
            f"token, run `{login}`."
        )
        raise TokenError(msg) from exc
    if response.status_code in _NOT_PROCESSED_STATUSES:
        msg = f"The WattiVahti token endpoint answered HTTP {response.status_code} to the {what}."
        raise _RetryableTokenFailure(msg, retry_after(response, _MAX_RETRY_AFTER_SECONDS))
    if response.status_code >= 500:
        msg = (
            f"The WattiVahti token endpoint is failing: it answered the {what} with HTTP "
            f"{response.status_code} {response.reason} ({_detail(response)}). This is "
            f"a fault of the WattiVahti service, not of your settings. {_unspent(form)}"
        )
        raise TokenError(msg)
    if response.status_code != 200:
        raise TokenError(_refusal_message(response, what, login))
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        msg = (
            f"The WattiVahti token endpoint answered the {what} with HTTP 200 but not with a "
            f"JSON object ({excerpt(response.text)!r}), so no token could be read from it. If "
            f"the next run reports an expired or already used token, run `{login}`."
        )
        raise TokenError(msg)
    return TokenAnswer(_text(body, "access_token"), _text(body, "refresh_token"), _seconds(body))


def _text(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    return value if isinstance(value, str) and value else None


def _seconds(body: dict[str, Any]) -> float:
    """``expires_in`` (B2C sends a number; some servers a numeric string), else an hour."""
    try:
        seconds = float(body.get("expires_in") or 3600)
    except (TypeError, ValueError):
        return 3600.0
    return min(seconds, 86400.0) if seconds > 0 else 3600.0


def _unspent(form: dict[str, str]) -> str:
    """What a grant the server did not carry out means for the user."""
    if "refresh_token" in form:
        return (
            "The refresh token was not used up (WattiVahti rotates it only with a successful "
            "answer), so the next run tries again with it; nothing to do unless this persists."
        )
    return "Try again later."


def _b2c_error(response: requests.Response) -> tuple[str, str]:
    """``error`` and the first line of ``error_description`` of a B2C error answer.

    An answer that is not such JSON gives no error and an excerpt of its text.
    """
    try:
        body = response.json()
        return str(body.get("error", "")), str(body.get("error_description", "")).splitlines()[0]
    except (ValueError, AttributeError, IndexError):
        return "", excerpt(response.text)


def _detail(response: requests.Response) -> str:
    error, description = _b2c_error(response)
    return f"{error}: {description}" if error else description


def _refusal_message(response: requests.Response, what: str, login: str) -> str:
    error, description = _b2c_error(response)
    if error == "invalid_grant":
        return (
            f"WattiVahti refused the refresh token: it has expired or was already used "
            f"({description}). Run `{login}` to log in again; it stores a new token "
            f"where the tap reads it."
        )
    return (
        f"The WattiVahti token endpoint refused the {what} with HTTP {response.status_code}"
        f" ({_detail(response)}). Check the token_url, client_id and scope settings."
    )


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
    store: TokenStore,
    endpoint: TokenEndpoint,
    logger: logging.Logger | None = None,
    guard: GrantGuard | None = None,
) -> TokenAnswer:
    """One refresh grant with the newest stored token, inside the account's lock; a rotated
    token is stored before returning (``guard``: see :func:`signals_deferred`)."""
    store.read()  # fails early (and creates nothing) when there is no token at all
    with store.locked():
        refresh_token = store.read()
        store.check_writable()  # a token that could not be stored is never sent
        return post_grant(
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
            store=store,
            guard=guard,
        )


class WattiVahtiAuthenticator(AuthBase):
    """Adds ``Authorization: Bearer`` to API requests, refreshing the access token as needed.

    One instance per account and tap run: it refreshes once, then only when the access token is
    about to expire (``expires_in`` less a margin) or after :meth:`invalidate` (an API 401).
    """

    def __init__(
        self,
        store: TokenStore,
        endpoint: TokenEndpoint,
        logger: logging.Logger,
        guard: GrantGuard | None = None,
    ) -> None:
        """Use ``store`` for the refresh token and ``endpoint`` for grants (``guard``: the
        run's grants in fetching threads)."""
        self.store = store
        self.endpoint = endpoint
        self.logger = logger
        self.guard = guard
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
        answer = rotate_refresh_token(self.store, self.endpoint, self.logger, self.guard)
        if answer.access_token is None:
            stored = (
                "The new refresh token in the answer was stored, so nothing is lost"
                if answer.refresh_token
                else "The answer held no new refresh token either; the stored one was kept"
            )
            msg = (
                f"The WattiVahti token endpoint answered the refresh of the access token with "
                f"HTTP 200 but without an access token. {stored}. Azure AD B2C leaves the access "
                f"token out when the scope names no API: check that the scope setting includes "
                f"the meter data API's scope ({self.endpoint.scope!r} is set)."
            )
            raise TokenError(msg)
        margin = min(60.0, answer.expires_in / 10)
        self._expires_at = time.monotonic() + answer.expires_in - margin
        self._access_token = answer.access_token
        rotated = "stored the rotated refresh token" if answer.refresh_token else "no rotation"
        self.logger.info(
            "Refreshed the WattiVahti access token of account %s (valid %d s; %s in %s).",
            self.store.account,
            answer.expires_in,
            rotated,
            self.store.where,
        )
