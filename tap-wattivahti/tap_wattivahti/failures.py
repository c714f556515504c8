"""One account's failure is its own: the accounts that failed in a run, each named once.

An expected failure while fetching a metering point (a token that is expired, used up or cannot
be stored, a refused metering point, requests failing after their retries, an unusable answer)
fails that metering point's account for the rest of the run: one ERROR paragraph names the
account and what to do, its metering points keep their bookmarks, and every other account goes
on; at the end the run fails naming the failed accounts (docs/design.md, "Many accounts"). A
run of one account ends with that account's own error at once, as it always did.
"""

from __future__ import annotations

import threading
import typing as t

from tap_wattivahti.errors import TapWattiVahtiError
from tap_wattivahti.settings import capped

if t.TYPE_CHECKING:
    import logging

    from tap_wattivahti.settings import Account


class AccountsFailed(TapWattiVahtiError):
    """At least one account failed; the others completed and their STATE was emitted."""


class Failures:
    """The accounts that failed in this run: noted from any thread, reported by the SDK's."""

    def __init__(self, accounts: int) -> None:
        """No account of the run's ``accounts`` has failed yet."""
        self.accounts = accounts
        self._errors: dict[str, BaseException] = {}
        self._reported: set[str] = set()
        self._lock = threading.Lock()

    def note(self, account: str, error: BaseException) -> None:
        """``account`` failed with ``error`` (its first failure counts)."""
        with self._lock:
            self._errors.setdefault(account, error)

    def failed(self, account: str) -> bool:
        """Whether ``account`` has failed in this run."""
        with self._lock:
            return account in self._errors

    def report(self, account: Account, logger: logging.Logger) -> None:
        """Log the ERROR paragraph of ``account``'s failure, once (with one account, its error
        ends the run instead)."""
        with self._lock:
            error = self._errors.get(account.name)
            if error is None or account.name in self._reported or self.accounts == 1:
                return
            self._reported.add(account.name)
        codes = ", ".join(capped(list(account.metering_points)))
        logger.error(
            "Account %s failed; its metering point(s) %s keep their bookmarks, and the other "
            "accounts go on. %s",
            account.name,
            codes,
            error,
        )

    def raise_if_any(self) -> None:
        """End the run when an account failed: with its own error when it is the run's only
        account, else with :class:`AccountsFailed` naming the failed ones."""
        with self._lock:
            errors = dict(self._errors)
        if not errors:
            return
        if self.accounts == 1:
            raise next(iter(errors.values()))
        if len(errors) == 1:
            [(name, error)] = errors.items()
            msg = (
                f"Account {name} failed (the other {self.accounts - 1} account(s) completed, "
                f"and their data and state were emitted): {error}"
            )
        else:
            msg = (
                f"{len(errors)} of {self.accounts} accounts failed: "
                f"{', '.join(capped(list(errors)))}. Each is named in an ERROR above with what "
                f"to do; their metering points keep their bookmarks, and every other account's "
                f"data and state were emitted."
            )
        raise AccountsFailed(msg)
