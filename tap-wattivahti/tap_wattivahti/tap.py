"""The WattiVahti tap: the streams, one authenticator per account, and the console entry point.

Its settings are declared and read in :mod:`tap_wattivahti.settings`; an expected failure ends
the command with one paragraph (:func:`tap_wattivahti.errors.reported`).
"""

from __future__ import annotations

import gc
import io
import json
import os
import signal
import typing as t
from functools import cached_property

import click
from singer_sdk.plugin_base import SingerCommand
from typing_extensions import override

from tap_wattivahti import compat
from tap_wattivahti.auth import GrantGuard, TokenEndpoint, WattiVahtiAuthenticator, token_store
from tap_wattivahti.errors import Stopped, reported
from tap_wattivahti.failures import Failures
from tap_wattivahti.ledger import Ledger, in_order
from tap_wattivahti.output import Writer
from tap_wattivahti.prefetch import Prefetcher
from tap_wattivahti.prices.sources import open_book
from tap_wattivahti.settings import SCHEMA, Settings, config_warnings
from tap_wattivahti.state import check, unreadable
from tap_wattivahti.streams import (
    ConsumptionStream,
    CostsStream,
    DailyTotalsStream,
    MonthlyBillsStream,
    ProductionStream,
    SpotPricesStream,
)

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    from singer_sdk import Stream

    from tap_wattivahti.prices.book import PriceBook

PROGRAM = "tap-wattivahti"
#: Where the command keeps the --config file names for the checks at start (``click`` meta).
CONFIG_FILES = "tap_wattivahti.config_files"
INTERRUPTED = "interrupted before the sync finished; the next run continues from the last bookmark."


class _ReportingCommand(SingerCommand):
    """The SDK's command, run inside :func:`~tap_wattivahti.errors.reported`."""

    @override
    def main(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        """Run the command (also the SDK's option callbacks, e.g. ``--test``).

        What the imports made (modules, classes, the settings' schema) lives as long as the
        process: it is frozen for the garbage collector (``gc.freeze()``), which would otherwise
        scan it in collections during the run and in the collection at exit, a tenth of a
        second or more of every start (``--about`` and Meltano's discovery run included).
        """
        gc.freeze()
        with reported(PROGRAM, interrupted=INTERRUPTED):
            return super().main(*args, **kwargs)

    @override
    def invoke(self, ctx: click.Context) -> t.Any:
        """Run the tap; inside click's ``main``, which would end a closed output pipe silently."""
        with reported(PROGRAM, interrupted=INTERRUPTED):
            return super().invoke(ctx)


class TapWattiVahti(compat.TapHooks):
    """Singer tap for WattiVahti electricity consumption and production."""

    name = PROGRAM
    config_jsonschema = SCHEMA
    #: The SDK's writer with a faster JSON encoder (:mod:`tap_wattivahti.output`).
    message_writer_class = Writer

    def __init__(self, **kwargs: t.Any) -> None:
        """Create the tap; unless config validation is off (discovery), check the settings now.

        Checking here, before any output, turns a bad metering point list, time zone or date
        into one clear error instead of a failure in the middle of a sync (a state the SDK
        cannot read likewise: :func:`tap_wattivahti.state.check`); what is likely a mistake but
        does not stop the sync (:func:`~tap_wattivahti.settings.config_warnings`) is a WARNING,
        once per sync, not again in Meltano's discovery run.
        """
        given = kwargs.get("state")
        if given is not None and not isinstance(given, (dict, str, os.PathLike)):
            check(given)  # e.g. a JSON list, which the SDK would take for a file name
        super().__init__(**kwargs)
        if kwargs.get("validate_config", True):
            _ = self.settings
            command = click.get_current_context(silent=True)
            files = command.meta.get(CONFIG_FILES, ()) if command is not None else ()
            for warning in config_warnings(self.config, self.config_jsonschema, files):
                self.logger.warning("%s", warning)

    @classmethod
    @override
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> t.Any:
        """The SDK's reading of the --config files; their names are kept for the checks at start."""
        ctx.meta[CONFIG_FILES] = tuple(name for name in value if name != "ENV")
        return super().cb_config(ctx, param, value)

    @override
    def load_state(self, state: dict[str, t.Any]) -> None:
        """Load the state after checking that the SDK can read it."""
        check(state)
        super().load_state(state)

    @override
    def on_stop(self, signum: int) -> t.NoReturn:
        """A signal stopped the sync (the SDK wrote a last STATE): exit with a failing status.

        The SDK's own handler exits with status 0, which would report an interrupted sync as done.
        """
        self._stop_fetching()
        name = signal.Signals(signum).name
        msg = (
            f"Stopped by {name} before the sync finished: exiting with status {128 + signum}; "
            f"the next run continues from the last bookmark."
        )
        raise Stopped(msg, signum)

    @cached_property
    def settings(self) -> Settings:
        """The validated settings (raises :class:`TapWattiVahtiError` naming a bad value)."""
        return Settings.from_config(self.config)

    @cached_property
    def _authenticators(self) -> dict[str, WattiVahtiAuthenticator]:
        """One authenticator per account (one refresh per run and account), made when needed."""
        return {}

    def authenticator(self, metering_point: str) -> WattiVahtiAuthenticator:
        """The authenticator of the account that ``metering_point`` belongs to."""
        settings = self.settings
        account = settings.account_of(metering_point)
        if account.name not in self._authenticators:
            self._authenticators[account.name] = WattiVahtiAuthenticator(
                token_store(settings.tokens, account, self.logger),
                TokenEndpoint(
                    url=settings.tokens.token_url,
                    client_id=settings.tokens.client_id,
                    scope=settings.tokens.scope,
                    timeout=settings.request_timeout_seconds,
                    retry_wait_seconds=settings.retry_wait_seconds,
                ),
                self.logger,
                self.grants,
            )
        return self._authenticators[account.name]

    @cached_property
    def grants(self) -> GrantGuard:
        """The grants in progress in the fetching threads."""
        return GrantGuard()

    def _stop_fetching(self) -> None:
        """The fetching threads take no new partition and send no new grant; a grant in flight
        stores its token first."""
        self.prefetcher.stop()
        self.grants.close()

    @cached_property
    def failures(self) -> Failures:
        """The accounts that failed in this run."""
        return Failures(len(self.settings.accounts))

    @cached_property
    def prefetcher(self) -> Prefetcher:
        """The threads that fetch ahead (``max_parallel_requests`` of them)."""
        return Prefetcher(self.settings.max_parallel_requests)

    @override
    def on_synced(self, finished: bool) -> None:
        """The fetching threads stop (a grant in flight stores its token first); a finished
        sync in which accounts failed fails, naming them (every STATE is emitted by then)."""
        self._stop_fetching()
        if finished:
            self.failures.raise_if_any()

    @override
    def discover_streams(self) -> Sequence[Stream]:
        """consumption, daily_totals, costs and monthly_bills (selected by default), production
        and spot_prices. They are synced by name, each after the streams it takes from
        (:attr:`streams`): spot_prices after the meter streams, so when the run's price book is
        made (by costs or spot_prices, whichever asks first), costs knows the days it prices and
        the run's one price request covers both."""
        return [
            ConsumptionStream(self),
            ProductionStream(self),
            DailyTotalsStream(self),
            SpotPricesStream(self),
            CostsStream(self),
            MonthlyBillsStream(self),
        ]

    @property
    @override
    def streams(self) -> dict[str, Stream]:
        """The SDK's streams (by name), except that each comes after the streams it takes from:
        the order they are synced in (the ledger checks it)."""
        streams = super().streams
        order = in_order(streams, _inputs(streams))
        if list(streams) != order:
            for name in order:  # the SDK's dict, reordered in place (it is cached there)
                streams[name] = streams.pop(name)
        return streams

    @cached_property
    def ledger(self) -> Ledger:
        """What the streams of this run hand to the streams derived from them."""
        streams = self.streams
        selected = frozenset(name for name, stream in streams.items() if stream.selected)
        return Ledger(_inputs(streams), selected)

    @cached_property
    def price_book(self) -> PriceBook:
        """The run's prices. Made when a stream first needs a price: every selected stream says
        first what it will ask, so that ask fetches it all together (docs/prices.md)."""
        book = open_book(self.settings, self.logger)
        for stream in self.streams.values():
            want_prices = getattr(stream, "want_prices", None)
            if stream.selected and want_prices is not None:
                want_prices(book)
        return book

    @classmethod
    @override
    def invoke(cls, *, state: t.IO[str] | None = None, **kwargs: t.Any) -> None:
        """The SDK's run of the command line, with a ``--state`` file that is not JSON reported
        as one paragraph (the SDK would end with a traceback)."""
        if state is not None:
            text = state.read()
            try:
                json.loads(text)
            except ValueError as exc:
                raise unreadable("the --state file", f"is not JSON ({exc})") from None
            state = io.StringIO(text)
        super().invoke(state=state, **kwargs)

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, with expected failures reported as one paragraph."""
        command = super().get_singer_command()
        return _ReportingCommand(
            name=command.name,
            callback=command.callback,
            params=command.params,
            help=command.help,
            context_settings=command.context_settings,
            logger=cls.logger,
        )


def _inputs(streams: dict[str, Stream]) -> dict[str, tuple[str, ...]]:
    """Each stream's ``inputs``: the streams it takes from."""
    return {name: tuple(getattr(stream, "inputs", ())) for name, stream in streams.items()}
