"""The WattiVahti tap: its settings, their validation, the streams, and the console entry point."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.plugin_base import SingerCommand
from typing_extensions import override

from tap_wattivahti.auth import TokenEndpoint, TokenStore, WattiVahtiAuthenticator
from tap_wattivahti.client import HOURLY, QUARTER_HOURLY
from tap_wattivahti.errors import TapWattiVahtiError
from tap_wattivahti.streams import ConsumptionStream, DailyTotalsStream, ProductionStream
from tap_wattivahti.timeutil import parse_local

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from types import FrameType

    from singer_sdk import Stream

AUTO = "auto"
DEFAULT_API_URL = "https://porienergia-prod-agent.frendsapp.com:9999/api/onlineapi/v1"
B2C_TENANT_URL = "https://pesv.b2clogin.com/pesv.onmicrosoft.com"
DEFAULT_TOKEN_URL = f"{B2C_TENANT_URL}/b2c_1_tunnistus_signinv2/oauth2/v2.0/token"
DEFAULT_CLIENT_ID = "84ebdb93-9ea6-42c7-bd7d-302abf7556fa"
DEFAULT_SCOPE = "https://pesv.onmicrosoft.com/salpa/customer.read openid profile offline_access"
DEFAULT_TIMEZONE = "Europe/Helsinki"
DEFAULT_TOKEN_FILE = "refresh_token.txt"  # noqa: S105 - a file name
METERING_POINT_ENV = "WATTIVAHTI_METERING_POINT"
_CODE = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class Settings:
    """The tap's settings, validated and converted (UTC instants, a ZoneInfo, a Path)."""

    metering_points: tuple[str, ...]
    zone: ZoneInfo
    start_date: datetime | None
    end_date: datetime | None
    initial_sync_days: int
    lookback: timedelta
    correction_days: int
    correction_interval: timedelta
    resolution: str
    window_days: int
    api_url: str
    token_url: str
    client_id: str
    scope: str
    refresh_token: str | None
    refresh_token_file: Path
    request_timeout_seconds: int
    max_retries: int
    retry_wait_seconds: float

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> Settings:
        """Validate ``config``; a bad value raises an error that names it and what to set."""
        zone = parse_timezone(config.get("timezone") or DEFAULT_TIMEZONE)
        start_date = _instant_setting(config, "start_date", zone)
        end_date = _instant_setting(config, "end_date", zone)
        if start_date is not None and end_date is not None and start_date >= end_date:
            msg = (
                f"The start_date setting {config['start_date']!r} is not before the end_date "
                f"setting {config['end_date']!r}, so there is nothing to sync (end_date is "
                f"exclusive). Set start_date earlier than end_date, e.g. start_date 2024-01-01 "
                f"and end_date 2025-01-01 for the year 2024, or unset end_date to sync up to now."
            )
            raise TapWattiVahtiError(msg)
        return cls(
            metering_points=parse_metering_points(config.get("metering_points")),
            zone=zone,
            start_date=start_date,
            end_date=end_date,
            initial_sync_days=int(config.get("initial_sync_days", 7)),
            lookback=timedelta(hours=float(config.get("lookback_hours", 2))),
            correction_days=_not_negative(
                config, "correction_days", 7, "days (0 turns the settlement re-read off)"
            ),
            correction_interval=timedelta(
                hours=_not_negative(
                    config, "correction_interval_hours", 24, "hours (0 re-reads on every run)"
                )
            ),
            resolution=str(config.get("resolution") or AUTO),
            window_days=int(config.get("window_days", 31)),
            api_url=str(config.get("api_url") or DEFAULT_API_URL).rstrip("/"),
            token_url=str(config.get("token_url") or DEFAULT_TOKEN_URL),
            client_id=str(config.get("client_id") or DEFAULT_CLIENT_ID),
            scope=str(config.get("scope") or DEFAULT_SCOPE),
            refresh_token=config.get("refresh_token") or None,
            refresh_token_file=Path(config.get("refresh_token_file") or DEFAULT_TOKEN_FILE),
            request_timeout_seconds=int(config.get("request_timeout_seconds", 120)),
            max_retries=int(config.get("max_retries", 5)),
            retry_wait_seconds=float(config.get("retry_wait_seconds", 2.0)),
        )


def parse_metering_points(value: object) -> tuple[str, ...]:
    """The metering point codes of the setting, in order.

    Each entry may hold several codes separated by commas and/or whitespace, so an environment
    variable like ``1234567,7654321`` placed into a one-item list works. Codes must be
    alphanumeric and unique.
    """
    entries = [value] if isinstance(value, str) else value
    if not isinstance(entries, (list, tuple)):
        entries = []
    codes: list[str] = []
    for entry in entries:
        if not isinstance(entry, str):
            msg = (
                f"The metering_points setting holds {entry!r}, which is not text: give the "
                f'codes as strings, e.g. ["1234567"].'
            )
            raise TapWattiVahtiError(msg)
        codes.extend(code for code in re.split(r"[\s,;]+", entry) if code)
    if not codes:
        msg = (
            f"The metering_points setting is empty (got {value!r}). Set it to your metering "
            f'point code(s), e.g. ["1234567"]; in the Meltano project it usually comes from '
            f"the {METERING_POINT_ENV} environment variable (several codes separated by commas)."
        )
        raise TapWattiVahtiError(msg)
    for code in codes:
        if not _CODE.fullmatch(code):
            msg = (
                f"The metering_points setting holds {code!r}, which is not a metering point "
                f"code: codes are letters and digits only (seven digits for Pori Energia), "
                f'separated by commas, e.g. "1234567,7654321".'
            )
            raise TapWattiVahtiError(msg)
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    if duplicates:
        msg = (
            f"The metering_points setting lists {', '.join(duplicates)} more than once: list "
            f"each metering point once (each one is a partition with its own bookmark)."
        )
        raise TapWattiVahtiError(msg)
    return tuple(codes)


def parse_timezone(name: str) -> ZoneInfo:
    """The ``timezone`` setting as a ZoneInfo; an unknown name is a clear error."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        msg = (
            f"The timezone setting {name!r} is not a known time zone: use an IANA name such as "
            f"{DEFAULT_TIMEZONE} (the time zone of the API's naive local times)."
        )
        raise TapWattiVahtiError(msg) from None


def _instant_setting(config: Mapping[str, t.Any], name: str, zone: ZoneInfo) -> datetime | None:
    text = config.get(name)
    if not text:
        return None
    try:
        return parse_local(str(text), zone)
    except ValueError:
        msg = (
            f"The {name} setting {text!r} is not an ISO 8601 date or date-time, e.g. "
            f"2024-01-01 (local midnight) or 2024-01-01T00:00:00+02:00."
        )
        raise TapWattiVahtiError(msg) from None


def _not_negative(config: Mapping[str, t.Any], name: str, default: int, unit: str) -> int:
    value = config.get(name)
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    msg = (
        f"The {name} setting is {value!r}: give a whole number of {unit}, 0 or more; the "
        f"default is {default}."
    )
    raise TapWattiVahtiError(msg)


PIPE_CLOSED = (
    "The program reading the tap's output (usually the target) closed it, so the tap stopped. "
    "That program's own messages say why. Nothing after the last bookmark is lost: the next run "
    "repeats from there."
)


class _FriendlySingerCommand(SingerCommand):
    """The SDK's command, turning expected failures into one paragraph and exit status 1."""

    @override
    def main(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        """Run the command; a :class:`TapWattiVahtiError` prints its message, no traceback."""
        try:
            return super().main(*args, **kwargs)
        except TapWattiVahtiError as exc:
            self._fail(str(exc))

    @override
    def invoke(self, ctx: click.Context) -> t.Any:
        """Run the tap; a closed output pipe is one line (click's main would end it silently)."""
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # Python would meet the closed pipe again when it flushes stdout at exit.
            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            self._fail(PIPE_CLOSED)

    def _fail(self, message: str) -> t.NoReturn:
        click.echo(f"{self.name}: error: {message}", err=True)
        sys.exit(1)


class TapWattiVahti(Tap):
    """Singer tap for WattiVahti electricity consumption and production."""

    name = "tap-wattivahti"
    config_jsonschema = th.PropertiesList(
        th.Property(
            "metering_points",
            th.ArrayType(th.StringType),
            required=True,
            title="Metering points",
            description=(
                "Metering point codes to sync, one partition (and bookmark) each. An entry may "
                'hold several codes separated by commas, e.g. ["1234567,7654321"].'
            ),
        ),
        th.Property(
            "refresh_token",
            th.StringType,
            secret=True,
            title="Refresh token",
            description=(
                "A WattiVahti refresh token, used only to seed refresh_token_file when that "
                "file is missing or empty. Usually left unset: run wattivahti-login instead."
            ),
        ),
        th.Property(
            "refresh_token_file",
            th.StringType,
            default=DEFAULT_TOKEN_FILE,
            title="Refresh token file",
            description=(
                "Where the current (rotated) refresh token lives; rewritten atomically with "
                "mode 0600 every time it rotates. wattivahti-login writes the first one."
            ),
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            title="Start date",
            description=(
                "First instant to sync for a metering point that has no bookmark (a bookmark "
                "always wins). Naive values are local time in `timezone`. Unset: now minus "
                "initial_sync_days."
            ),
        ),
        th.Property(
            "end_date",
            th.DateTimeType,
            title="End date",
            description=(
                "Last instant (exclusive) to sync, for manual backfills. Naive values are "
                "local time in `timezone`. Unset: now."
            ),
        ),
        th.Property(
            "initial_sync_days",
            th.IntegerType(minimum=1),
            default=7,
            title="Initial sync days",
            description="Days back from now to start a metering point with no bookmark and no "
            "start_date.",
        ),
        th.Property(
            "lookback_hours",
            th.IntegerType(minimum=0),
            default=2,
            title="Lookback hours",
            description=(
                "Hours before the bookmark to fetch again (late or corrected values); a run "
                "fetches from local midnight of the day that hour falls on."
            ),
        ),
        th.Property(
            "correction_days",
            th.IntegerType,
            default=7,
            title="Correction days",
            description=(
                "The settlement window: local days before the bookmark's day that a due re-read "
                "asks again, so values WattiVahti fills or corrects later are picked up (only "
                "changed days are emitted again). 0 turns the re-read off."
            ),
        ),
        th.Property(
            "correction_interval_hours",
            th.IntegerType,
            default=24,
            title="Correction interval hours",
            description=(
                "How often the settlement window is re-read (the last re-read is kept in the "
                "state). 0 re-reads it on every run."
            ),
        ),
        th.Property(
            "resolution",
            th.StringType,
            default=AUTO,
            allowed_values=[AUTO, QUARTER_HOURLY, HOURLY],
            title="Resolution",
            description=(
                "auto: 15-minute values where the meter has them, hourly values before; "
                "PT15MIN or PT1H force one resolution."
            ),
        ),
        th.Property(
            "window_days",
            th.IntegerType(minimum=1, maximum=31),
            default=31,
            title="Window days",
            description=(
                "Longest span of one request, in local days. Windows end at local midnight "
                "and never cross a calendar month (a month of 15-minute values is known to work)."
            ),
        ),
        th.Property(
            "timezone",
            th.StringType,
            default=DEFAULT_TIMEZONE,
            title="Time zone",
            description="IANA time zone of the API's naive local times.",
        ),
        th.Property(
            "api_url",
            th.StringType,
            default=DEFAULT_API_URL,
            title="API URL",
            description="Base URL of the WattiVahti meter data API.",
        ),
        th.Property(
            "token_url",
            th.StringType,
            default=DEFAULT_TOKEN_URL,
            title="Token URL",
            description="Azure AD B2C token endpoint.",
        ),
        th.Property(
            "client_id",
            th.StringType,
            default=DEFAULT_CLIENT_ID,
            title="Client ID",
            description="Azure AD B2C public client id of WattiVahti.",
        ),
        th.Property(
            "scope",
            th.StringType,
            default=DEFAULT_SCOPE,
            title="Scope",
            description="OAuth scope that grants access to the meter data API.",
        ),
        th.Property(
            "request_timeout_seconds",
            th.IntegerType(minimum=1),
            default=120,
            title="Request timeout",
            description=(
                "Seconds one API or token request may take in all (connecting and reading the "
                "whole answer) before it counts as timed out."
            ),
        ),
        th.Property(
            "max_retries",
            th.IntegerType(minimum=0),
            default=5,
            title="Maximum retries",
            description="Retries of a failed request (429, 5xx, dropped connection, timeout).",
        ),
        th.Property(
            "retry_wait_seconds",
            th.NumberType(minimum=0),
            default=2,
            title="Retry wait",
            description=(
                "Seconds before the first retry; doubles each retry (at most 300). A 429's "
                "Retry-After wins."
            ),
        ),
    ).to_dict()

    def __init__(self, **kwargs: t.Any) -> None:
        """Create the tap; unless config validation is off (discovery), check the settings now.

        Checking here, before any output, turns a bad metering point list, time zone or date
        into one clear error instead of a failure in the middle of a sync.
        """
        super().__init__(**kwargs)
        if kwargs.get("validate_config", True):
            _ = self.settings

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """On SIGTERM or SIGINT, stop as the SDK does (a last STATE), but with a failing status.

        The SDK's handler exits with status 0, which would report an interrupted sync as done.
        (``_handle_termination`` is private to the SDK: it is the handler its PluginBase installs
        for both signals, and there is no public hook.)
        """
        name = signal.Signals(signum).name
        self.logger.warning(
            "Stopped by %s before the sync finished: exiting with status %d; the next run "
            "continues from the last bookmark.",
            name,
            128 + signum,
        )
        with contextlib.suppress(SystemExit):
            super()._handle_termination(signum, frame)
        sys.exit(128 + signum)

    @cached_property
    def settings(self) -> Settings:
        """The validated settings (raises :class:`TapWattiVahtiError` naming a bad value)."""
        return Settings.from_config(self.config)

    @cached_property
    def authenticator(self) -> WattiVahtiAuthenticator:
        """The one authenticator of this tap instance: one refresh per run."""
        settings = self.settings
        return WattiVahtiAuthenticator(
            TokenStore(settings.refresh_token_file, settings.refresh_token),
            TokenEndpoint(
                url=settings.token_url,
                client_id=settings.client_id,
                scope=settings.scope,
                timeout=settings.request_timeout_seconds,
                retry_wait_seconds=settings.retry_wait_seconds,
            ),
            self.logger,
        )

    @override
    def discover_streams(self) -> Sequence[Stream]:
        """consumption and daily_totals (selected by default), and production."""
        return [ConsumptionStream(self), ProductionStream(self), DailyTotalsStream(self)]

    @property
    @override
    def streams(self) -> dict[str, Stream]:
        """The SDK's streams (sorted by name), with daily_totals moved last: it totals the days
        the meter streams fetched in the same run, so it must be synced after them."""
        streams = super().streams
        if DailyTotalsStream.name in streams and next(reversed(streams)) != DailyTotalsStream.name:
            streams[DailyTotalsStream.name] = streams.pop(DailyTotalsStream.name)
        return streams

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, with expected failures reported as one paragraph."""
        command = super().get_singer_command()
        return _FriendlySingerCommand(
            name=command.name,
            callback=command.callback,
            params=command.params,
            help=command.help,
            context_settings=command.context_settings,
            logger=cls.logger,
        )
