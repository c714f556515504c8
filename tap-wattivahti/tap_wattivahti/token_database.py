"""Refresh tokens in PostgreSQL (``token_database_uri``): one row per account, shared by every
machine that runs the tap. The table, created when missing (in the first schema of the URI's
``search_path``)::

    CREATE TABLE wattivahti_refresh_tokens (
        account       text PRIMARY KEY,          -- the account's name
        refresh_token text NOT NULL,             -- its current (rotated) refresh token
        updated_at    timestamptz NOT NULL       -- when a run last stored or touched it
    );

A refresh locks the account's row (``SELECT … FOR UPDATE``, waiting at most the lock timeout)
in a transaction that stores the new token and commits before the token is used; the rules are
:mod:`tap_wattivahti.auth`'s. Needs the psycopg driver (the tap's ``postgres`` extra), which
only this module imports.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Generator

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict
from typing_extensions import override

from tap_wattivahti.auth import TokenStore, login_command
from tap_wattivahti.errors import TokenError

TABLE = "wattivahti_refresh_tokens"
_CONNECT_TIMEOUT_SECONDS = 30
_APPLICATION_NAME = "tap-wattivahti"
# The statements, each naming the table as TABLE says.
_CREATE = """CREATE TABLE IF NOT EXISTS wattivahti_refresh_tokens (
    account text PRIMARY KEY,
    refresh_token text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)"""
_SELECT = "SELECT refresh_token FROM wattivahti_refresh_tokens WHERE account = %s"
_LOCK = _SELECT + " FOR UPDATE"
_SEED = """INSERT INTO wattivahti_refresh_tokens (account, refresh_token) VALUES (%s, %s)
ON CONFLICT (account) DO NOTHING"""
_TOUCH = """UPDATE wattivahti_refresh_tokens SET refresh_token = refresh_token
WHERE account = %s"""
_TRY_UPSERT = """INSERT INTO wattivahti_refresh_tokens (account, refresh_token) VALUES (%s, '')
ON CONFLICT (account) DO UPDATE SET refresh_token = wattivahti_refresh_tokens.refresh_token"""
_UPDATE = """UPDATE wattivahti_refresh_tokens SET refresh_token = %s, updated_at = now()
WHERE account = %s"""
_UPSERT = """INSERT INTO wattivahti_refresh_tokens (account, refresh_token) VALUES (%s, %s)
ON CONFLICT (account) DO UPDATE SET refresh_token = EXCLUDED.refresh_token, updated_at = now()"""
_FIND_HOLDER = (
    "find it with `SELECT pid, client_addr, xact_start FROM pg_stat_activity WHERE "
    "application_name = 'tap-wattivahti'` and end it with `SELECT pg_terminate_backend(pid)`"
)


class DatabaseTokenStore(TokenStore):
    """An account's row of the token database."""

    def __init__(
        self,
        uri: str,
        account: str,
        seed: str | None = None,
        *,
        lock_timeout: float = 120.0,
        logger: logging.Logger | None = None,
    ) -> None:
        """The row of ``account`` in the database at ``uri``."""
        super().__init__(account, seed, lock_timeout=lock_timeout, logger=logger)
        self._uri = uri
        self._table_checked = False
        #: While :meth:`locked` holds the row: the connection whose transaction locks it.
        self._held: psycopg.Connection | None = None
        self._held_token: str | None = None

    @property
    @override
    def where(self) -> str:
        """The database (without user or password), the table and the account."""
        try:
            parts = conninfo_to_dict(self._uri)
        except psycopg.ProgrammingError:
            parts = {}
        host = f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}"
        database = parts.get("dbname") or parts.get("user") or "?"
        return f"the token database {database} on {host} (table {TABLE}, account {self.account})"

    # ------------------------------------------------------------------ the store
    @override
    def read(self) -> str:
        """The row's token (inside :meth:`locked`: the one read when the row was locked)."""
        if self._held is not None and self._held_token is not None:
            return self._held_token
        with self._connection() as connection:
            row = connection.execute(_SELECT, (self.account,)).fetchone()
            if row is None and self._seed:
                connection.execute(_SEED, (self.account, self._seed))
                connection.commit()
                row = connection.execute(_SELECT, (self.account,)).fetchone()
        if row is None:
            raise self._no_token()
        return str(row[0])

    @override
    def check_writable(self) -> None:
        """Inside :meth:`locked`: the locked row is written (unchanged). Outside: an insert
        or update of the row is tried and rolled back."""
        if self._held is not None:
            with self._failing("prove that a new token can be stored"):
                self._held.execute(_TOUCH, (self.account,))
            return
        with (
            self._connection() as connection,
            self._failing("prove that a token can be stored"),
            connection.transaction(force_rollback=True),
        ):
            connection.execute(_TRY_UPSERT, (self.account,))

    @override
    def write(self, token: str) -> None:
        """Store ``token`` and commit (inside :meth:`locked` this ends the lock: the grant that
        needed it is done)."""
        value = token.strip()
        if self._held is not None:
            with self._failing("store the new refresh token"):
                self._held.execute(_UPDATE, (value, self.account))
                self._held.commit()
            self._held_token = value
            return
        with self._connection() as connection, self._failing("store the refresh token"):
            connection.execute(_UPSERT, (self.account, value))

    @override
    @contextlib.contextmanager
    def locked(self) -> Generator[None]:
        """The account's row locked in a transaction of its own connection (PostgreSQL
        releases it when that connection ends in any way, also ``kill -9``)."""
        with self._connection() as connection:
            self._held_token = self._lock_row(connection)
            self._held = connection
            try:
                yield
            finally:
                self._held = None
                self._held_token = None

    # ------------------------------------------------------------------ helpers
    def _lock_row(self, connection: psycopg.Connection) -> str:
        """Lock the row (at once, else after saying so, within the lock timeout); its token."""
        holder = "another connection holds the lock on the account's row"
        with self._failing("lock the account's row"):
            connection.execute("SELECT set_config('synchronous_commit', 'on', true)")
            try:
                row = connection.execute(_LOCK + " NOWAIT", (self.account,)).fetchone()
            except errors.LockNotAvailable:
                connection.rollback()
                if self.lock_timeout <= 0:
                    raise self._gave_up(holder, _FIND_HOLDER) from None
                self._waiting(holder)
                milliseconds = str(max(1, round(self.lock_timeout * 1000)))
                connection.execute("SELECT set_config('synchronous_commit', 'on', true)")
                connection.execute("SELECT set_config('lock_timeout', %s, true)", (milliseconds,))
                try:
                    row = connection.execute(_LOCK, (self.account,)).fetchone()
                except errors.LockNotAvailable:
                    raise self._gave_up(holder, _FIND_HOLDER) from None
        if row is None:
            raise self._no_token()
        return str(row[0])

    @contextlib.contextmanager
    def _connection(self) -> Generator[psycopg.Connection]:
        """A new connection (committed when the block ends, rolled back on an error), with
        the table in place."""
        try:
            connection = psycopg.connect(
                self._uri,
                connect_timeout=_CONNECT_TIMEOUT_SECONDS,
                application_name=_APPLICATION_NAME,
            )
        except psycopg.Error as exc:
            msg = (
                f"Cannot connect to {self.where}: {_first_line(exc)}. Nothing was sent to "
                f"WattiVahti, so the account's token is not used up. Check token_database_uri "
                f"and that the database server is reachable from this machine."
            )
            raise TokenError(msg) from None
        with connection:
            if not self._table_checked:
                self._create_table(connection)
            yield connection

    def _create_table(self, connection: psycopg.Connection) -> None:
        with self._failing("create the table"):
            present = connection.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone()
            if present is None or present[0] is None:
                # One creator at a time: concurrent CREATE TABLE IF NOT EXISTS can collide.
                connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (TABLE,))
                connection.execute(_CREATE)
            connection.commit()
        self._table_checked = True

    @contextlib.contextmanager
    def _failing(self, action: str) -> Generator[None]:
        """A database error while doing ``action`` becomes a TokenError naming the store."""
        try:
            yield
        except psycopg.Error as exc:
            if isinstance(exc, (errors.InsufficientPrivilege, errors.ReadOnlySqlTransaction)):
                hint = (
                    f" The database user needs SELECT, INSERT and UPDATE on {TABLE} (and "
                    f"CREATE on the schema until the table exists)."
                )
            else:
                hint = ""
            msg = f"Could not {action} in {self.where}: {_first_line(exc)}.{hint}"
            raise TokenError(msg) from None

    def _no_token(self) -> TokenError:
        msg = (
            f"No WattiVahti refresh token for account {self.account} in {self.where}, and the "
            f"account has no refresh_token to seed it. Run `{login_command(self.account)}` to "
            f"log in with the account's WattiVahti username and password; it stores a fresh "
            f"token there (or set the account's refresh_token once)."
        )
        return TokenError(msg)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__
