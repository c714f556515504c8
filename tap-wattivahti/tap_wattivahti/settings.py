"""The tap's settings: their JSON schema, and the only code that reads them.

:data:`SCHEMA` is the one place of every setting's default. The SDK writes those defaults into a
tap's config (its config validator gives a missing key the property's ``default``; see
docs/library-notes.md#schema-defaults), and :func:`given` does the same for any other config,
such as the one ``wattivahti-login`` assembles, so no default is written twice. A setting set to
null or to an empty text (an empty environment variable) counts as unset: it gets the default.

:class:`Settings` is the validated tap config; :class:`TokenSettings` is its part that
``wattivahti-login`` needs too (the accounts, where their tokens live, the token endpoint), read
by :func:`login_settings` through the tap's own layering of config files and environment
variables without loading the streams. The accounts come from the one-account settings (the
account ``default``) or from ``accounts`` / ``accounts_file``: :func:`parse_accounts`.

:func:`config_warnings` says what in a config is likely a mistake the tap would otherwise pass
over in silence: a setting name it does not know, a secret in a file others can read.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import stat
import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from singer_sdk import typing as th

from tap_wattivahti import compat
from tap_wattivahti.errors import TapWattiVahtiError
from tap_wattivahti.prices.elering import DEFAULT_URL as ELERING_URL
from tap_wattivahti.prices.entsoe import DEFAULT_URL as ENTSOE_URL
from tap_wattivahti.prices.entsoe import HOW_TO_AUTHENTICATE, EntsoeSource
from tap_wattivahti.prices.sources import checked_area
from tap_wattivahti.resolution import AUTO, HOURLY, QUARTER_HOURLY
from tap_wattivahti.terms import Terms, parse_terms
from tap_wattivahti.timeutil import parse_local

if t.TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence

#: Prefix of the environment variables the SDK reads settings from (``--config ENV``).
ENV_PREFIX = "TAP_WATTIVAHTI_"
#: The earlier script's variable for the token file (meltano.yml's ``env_aliases``), which
#: ``wattivahti-login`` reads too.
TOKEN_FILE_ALIAS = "REFRESH_TOKEN_FILE"  # noqa: S105 - the name of a variable
METERING_POINT_ENV = "WATTIVAHTI_METERING_POINT"
#: The account of the one-account settings (``metering_points``, ``refresh_token_file``,
#: ``refresh_token``).
DEFAULT_ACCOUNT = "default"
_CODE = re.compile(r"[A-Za-z0-9]+")
_ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_.-]+")
_ACCOUNT_KEYS = ("name", "metering_points", "refresh_token_file", "refresh_token")
#: Config keys singer-sdk reads from a tap's config without declaring them as settings
#: (docs/library-notes.md#sdk-undeclared-settings).
SDK_UNDECLARED_SETTINGS = frozenset({"user_agent", "emit_activate_version_messages"})
#: The settings ``wattivahti-login`` reads.
_LOGIN_SETTINGS = (
    "metering_points",
    "refresh_token",
    "refresh_token_file",
    "accounts",
    "accounts_file",
    "token_database_uri",
    "token_lock_timeout_seconds",
    "token_url",
    "client_id",
    "scope",
)

# The shape of an account, untyped here: parse_accounts checks it with messages that never
# echo a value (the SDK's validation would print a misplaced token).
_ACCOUNT = th.CustomType(
    {
        "properties": {
            "name": {"description": "Letters, digits, _ . -; unique."},
            "metering_points": {"description": "The account's metering point codes."},
            "refresh_token_file": {"description": "Its token file."},
            "refresh_token": {"description": "Seeds its token file.", "secret": True},
        }
    }
)

#: A c/kWh, EUR or percent amount of the terms: a JSON number, or text, kept exact (``terms``).
_AMOUNT = th.CustomType({"type": ["number", "string"]})
_FROM = th.Property(
    "from", th.StringType, description="Local date YYYY-MM-DD from which the entry is in force."
)


def _terms(name: str, title: str, description: str, *fields: tuple[str, str]) -> th.Property:
    """A terms setting: a list of dated entries (see tap_wattivahti.terms)."""
    entry = th.ObjectType(
        _FROM,
        *(
            th.Property(key, _AMOUNT if key != "type" else th.StringType, description=text)
            for key, text in fields
        ),
    )
    return th.Property(name, th.ArrayType(entry), title=title, description=description)


SCHEMA: dict[str, t.Any] = th.PropertiesList(
    th.Property(
        "metering_points",
        th.ArrayType(th.StringType),
        title="Metering points",
        description=(
            "Metering point codes to sync, one partition (and bookmark) each. An entry may "
            'hold several codes separated by commas, e.g. ["1234567,7654321"]. With '
            "refresh_token_file and refresh_token: the one account, named default; for "
            "several accounts use accounts or accounts_file instead."
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
        default="refresh_token.txt",
        title="Refresh token file",
        description=(
            "Where the current (rotated) refresh token lives; rewritten atomically with "
            "mode 0600 every time it rotates. wattivahti-login writes the first one."
        ),
    ),
    th.Property(
        "accounts",
        th.ArrayType(_ACCOUNT),
        secret=True,  # an account may carry its seed refresh_token
        title="Accounts",
        description=(
            "Several WattiVahti accounts, each with its own rotating refresh token: a list of "
            "{name, metering_points, refresh_token_file, refresh_token}; name unique (letters, "
            "digits, _ . -); refresh_token_file defaults to refresh_tokens/NAME.txt, "
            "refresh_token only seeds it. Replaces the one-account settings metering_points, "
            "refresh_token_file and refresh_token."
        ),
    ),
    th.Property(
        "accounts_file",
        th.StringType,
        title="Accounts file",
        description=(
            "A JSON file holding the accounts list (for hundreds of accounts); instead of accounts."
        ),
    ),
    th.Property(
        "token_database_uri",
        th.StringType,
        secret=True,
        title="Token database URI",
        description=(
            "A postgresql:// URI: the accounts' refresh tokens live in that database (table "
            "wattivahti_refresh_tokens, created if missing) instead of files, so that runs on "
            "several machines share them. Needs tap-wattivahti[postgres]."
        ),
    ),
    th.Property(
        "token_lock_timeout_seconds",
        th.IntegerType(minimum=0),
        default=120,
        title="Token lock timeout",
        description=(
            "Seconds a run waits for another process's refresh of the same account's token "
            "before it gives up (with an error saying what holds the lock)."
        ),
    ),
    th.Property(
        "max_parallel_requests",
        th.IntegerType(minimum=1),
        default=2,
        title="Maximum parallel requests",
        description=(
            "API and token requests in flight at once, across accounts (never two for one account)."
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
        default="Europe/Helsinki",
        title="Time zone",
        description="IANA time zone of the API's naive local times.",
    ),
    th.Property(
        "api_url",
        th.StringType,
        default="https://porienergia-prod-agent.frendsapp.com:9999/api/onlineapi/v1",
        title="API URL",
        description="Base URL of the WattiVahti meter data API.",
    ),
    th.Property(
        "token_url",
        th.StringType,
        default=(
            "https://pesv.b2clogin.com/pesv.onmicrosoft.com/b2c_1_tunnistus_signinv2/oauth2/v2.0/token"
        ),
        title="Token URL",
        description="Azure AD B2C token endpoint.",
    ),
    th.Property(
        "client_id",
        th.StringType,
        default="84ebdb93-9ea6-42c7-bd7d-302abf7556fa",
        title="Client ID",
        description="Azure AD B2C public client id of WattiVahti.",
    ),
    th.Property(
        "scope",
        th.StringType,
        default="https://pesv.onmicrosoft.com/salpa/customer.read openid profile offline_access",
        title="Scope",
        description="OAuth scope that grants access to the meter data API.",
    ),
    th.Property(
        "price_source",
        th.StringType,
        default="elering",
        title="Price source",
        description=(
            "Where the day-ahead spot prices come from: elering (no key needed), entsoe (needs "
            "entsoe_token) or none (no price request at all; spot_prices emits nothing)."
        ),
    ),
    th.Property(
        "price_area",
        th.StringType,
        default="FI",
        title="Price area",
        description=(
            "Bidding zone of the spot prices: FI, EE, LV or LT; with price_source entsoe also "
            "any bidding zone's EIC code, e.g. 10YFI-1--------U."
        ),
    ),
    th.Property(
        "elering_url",
        th.StringType,
        default=ELERING_URL,
        title="Elering URL",
        description="Base URL of Elering's price API (price_source elering).",
    ),
    th.Property(
        "entsoe_url",
        th.StringType,
        default=ENTSOE_URL,
        title="ENTSO-E URL",
        description="ENTSO-E Transparency Platform API URL (price_source entsoe).",
    ),
    th.Property(
        "entsoe_token",
        th.StringType,
        secret=True,
        title="ENTSO-E token",
        description=(
            "ENTSO-E Transparency Platform security token (free: register, ask for Restful "
            "API access, then generate it under My Account Settings). Needed by price_source "
            "entsoe."
        ),
    ),
    th.Property(
        "request_timeout_seconds",
        th.IntegerType(minimum=1),
        default=120,
        title="Request timeout",
        description=(
            "Seconds one API, token or price request may take in all (connecting and reading "
            "the whole answer) before it counts as timed out."
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
    _terms(
        "energy_contracts",
        "Energy contracts",
        "The seller's terms by date, VAT excluded: entries {from, type, ...}, each in force "
        "until the next one's from, in ascending order. type spot takes margin_c_per_kwh, "
        "fixed price_c_per_kwh, time_of_day day_c_per_kwh (07-22 local) and night_c_per_kwh; "
        "each also monthly_fee_eur. Unset: no costs. See docs/prices-and-costs.md.",
        ("type", "spot, fixed or time_of_day."),
        ("margin_c_per_kwh", "spot: c/kWh added to the market price (may be negative)."),
        ("price_c_per_kwh", "fixed: c/kWh."),
        ("day_c_per_kwh", "time_of_day: c/kWh from 07:00 to 22:00 local time."),
        ("night_c_per_kwh", "time_of_day: c/kWh from 22:00 to 07:00 local time."),
        ("monthly_fee_eur", "EUR per calendar month (0 when there is none)."),
    ),
    _terms(
        "network_tariffs",
        "Network tariffs",
        "The network company's transfer terms by date, VAT excluded: entries {from, type, "
        "...}, each in force until the next one's from, in ascending order. type general "
        "takes c_per_kwh, time_of_day day_c_per_kwh (07-22 local, every day) and "
        "night_c_per_kwh, seasonal winter_day_c_per_kwh (November-March, Monday-Saturday "
        "07-22) and other_c_per_kwh; each also monthly_fee_eur. Unset: no costs.",
        ("type", "general, time_of_day or seasonal."),
        ("c_per_kwh", "general: c/kWh."),
        ("day_c_per_kwh", "time_of_day: c/kWh from 07:00 to 22:00 local time."),
        ("night_c_per_kwh", "time_of_day: c/kWh from 22:00 to 07:00 local time."),
        ("winter_day_c_per_kwh", "seasonal: c/kWh November-March, Monday-Saturday 07-22."),
        ("other_c_per_kwh", "seasonal: c/kWh at every other time."),
        ("monthly_fee_eur", "EUR per calendar month (0 when there is none)."),
    ),
    _terms(
        "production_contracts",
        "Production contracts",
        "What produced energy is sold for, by date: entries {from, margin_c_per_kwh}; the sale "
        "value is kWh x (market price - margin), no VAT. Unset: production is not costed.",
        ("margin_c_per_kwh", "c/kWh the buyer keeps from the market price."),
    ),
    _terms(
        "electricity_tax",
        "Electricity tax",
        "Electricity tax by date, VAT excluded: entries {from, c_per_kwh}. Unset: the built-in "
        "class I table (strategic stockpile fee included); set, it replaces the table whole.",
        ("c_per_kwh", "c/kWh, VAT excluded."),
    ),
    _terms(
        "vat",
        "VAT",
        "VAT by date: entries {from, energy_percent, network_percent}; energy_percent applies "
        "to the seller's part, network_percent to transfer and electricity tax. Unset: the "
        "built-in Finnish rates; set, it replaces them whole.",
        ("energy_percent", "VAT % on energy and its monthly fee."),
        ("network_percent", "VAT % on transfer, its monthly fee and electricity tax."),
    ),
).to_dict()

#: Setting name → default, as the schema declares them (read once, before the SDK adds its own
#: built-in settings to the schema).
DEFAULTS: Mapping[str, t.Any] = MappingProxyType(
    {name: spec["default"] for name, spec in SCHEMA["properties"].items() if "default" in spec}
)


def given(*layers: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The schema's defaults overlaid with ``layers`` in order: a later layer's value wins, and
    a null or empty value counts as unset (it never hides an earlier layer or the default)."""
    merged = dict(DEFAULTS)
    for layer in layers:
        merged.update({name: value for name, value in layer.items() if value not in (None, "")})
    return merged


@dataclass(frozen=True)
class Account:
    """One WattiVahti login: its metering points and where its rotating refresh token lives."""

    name: str
    metering_points: tuple[str, ...]
    #: The token file (unused when the tokens live in the token database).
    refresh_token_file: Path
    #: Seeds the token file (or the account's row of the token database) when it has none.
    refresh_token: str | None


@dataclass(frozen=True)
class TokenSettings:
    """The accounts, where their rotating refresh tokens live, and where, and as whom, they are
    exchanged."""

    accounts: tuple[Account, ...]
    token_database_uri: str | None
    lock_timeout_seconds: float
    token_url: str
    client_id: str
    scope: str

    @classmethod
    def from_config(
        cls, config: Mapping[str, t.Any], *, require_metering_points: bool = True
    ) -> TokenSettings:
        """The token settings of ``config`` (the defaults where unset); without
        ``require_metering_points`` (the login), the account ``default`` may have none."""
        values = given(config)
        return cls(
            accounts=parse_accounts(values, require_metering_points=require_metering_points),
            token_database_uri=_database_uri(values.get("token_database_uri")),
            lock_timeout_seconds=float(values["token_lock_timeout_seconds"]),
            token_url=str(values["token_url"]),
            client_id=str(values["client_id"]),
            scope=str(values["scope"]),
        )

    def account(self, name: str | None) -> Account:
        """The account called ``name``; None: the only account (an error when there are more)."""
        names = [account.name for account in self.accounts]
        if name is None and len(self.accounts) == 1:
            return self.accounts[0]
        for account in self.accounts:
            if account.name == name:
                return account
        known = ", ".join(capped(names))
        if name is None:
            msg = f"Name the account with --account NAME: there are several ({known})."
        else:
            msg = f"There is no account named {name!r}: the accounts are {known}."
        raise TapWattiVahtiError(msg)


def login_settings(config_files: Sequence[str], flags: Mapping[str, str | None]) -> TokenSettings:
    """``wattivahti-login``'s token settings, first match wins: its command-line ``flags``
    (setting name → value), then the ``TAP_WATTIVAHTI_*`` environment variables over the config
    files (later files win), as ``tap-wattivahti --config FILE... --config ENV`` layers them,
    then ``REFRESH_TOKEN_FILE`` for the token file, then the defaults.

    Only the process environment is read: a ``.env`` file is not (``uv run --env-file .env``
    and Meltano load it explicitly).
    """
    try:
        files = compat.config_files(config_files)
    except (OSError, ValueError) as exc:
        msg = f"Cannot read the config file(s) {', '.join(config_files)}: {exc}"
        raise TapWattiVahtiError(msg) from None
    schema = {"properties": {name: SCHEMA["properties"][name] for name in _LOGIN_SETTINGS}}
    environment = compat.environment_config(schema, ENV_PREFIX)
    alias = {"refresh_token_file": os.environ.get(TOKEN_FILE_ALIAS)}
    return TokenSettings.from_config(
        given(alias, files, environment, flags), require_metering_points=False
    )


@dataclass(frozen=True)
class PriceSettings:
    """Where the day-ahead prices come from; ``source`` ``none`` asks nowhere."""

    source: str
    area: str
    elering_url: str
    entsoe_url: str
    entsoe_token: str | None

    @classmethod
    def from_config(cls, values: Mapping[str, t.Any]) -> PriceSettings:
        """The price settings of ``values`` (defaults applied); a bad one is a clear error."""
        source = str(values["price_source"]).strip().lower()
        token = values.get("entsoe_token")
        settings = cls(
            source=source,
            area=checked_area(source, str(values["price_area"])),
            elering_url=_url(values, "elering_url"),
            entsoe_url=_url(values, "entsoe_url"),
            entsoe_token=None if token is None else str(token).strip(),
        )
        if source == EntsoeSource.name and not settings.entsoe_token:
            msg = "The price_source setting is entsoe, but entsoe_token is not set. "
            raise TapWattiVahtiError(msg + HOW_TO_AUTHENTICATE)
        return settings


@dataclass(frozen=True)
class Settings:
    """The tap's settings, validated and converted (UTC instants, a ZoneInfo, a Path, the
    contract terms)."""

    #: Every account's metering points, in the order of the accounts.
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
    tokens: TokenSettings
    request_timeout_seconds: int
    max_retries: int
    retry_wait_seconds: float
    prices: PriceSettings
    max_parallel_requests: int
    terms: Terms

    @property
    def accounts(self) -> tuple[Account, ...]:
        """The WattiVahti accounts, each with its metering points and its token."""
        return self.tokens.accounts

    def account_of(self, metering_point: str) -> Account:
        """The account that ``metering_point`` belongs to."""
        for account in self.tokens.accounts:
            if metering_point in account.metering_points:
                return account
        msg = f"The metering point {metering_point} belongs to no account."
        raise TapWattiVahtiError(msg)

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any]) -> Settings:
        """Validate ``config``; a bad value raises an error that names it and what to set."""
        values = given(config)
        zone = parse_timezone(str(values["timezone"]))
        start_date = _instant_setting(values, "start_date", zone)
        end_date = _instant_setting(values, "end_date", zone)
        if start_date is not None and end_date is not None and start_date >= end_date:
            msg = (
                f"The start_date setting {values['start_date']!r} is not before the end_date "
                f"setting {values['end_date']!r}, so there is nothing to sync (end_date is "
                f"exclusive). Set start_date earlier than end_date, e.g. start_date 2024-01-01 "
                f"and end_date 2025-01-01 for the year 2024, or unset end_date to sync up to now."
            )
            raise TapWattiVahtiError(msg)
        tokens = TokenSettings.from_config(values)
        return cls(
            metering_points=tuple(c for a in tokens.accounts for c in a.metering_points),
            zone=zone,
            start_date=start_date,
            end_date=end_date,
            initial_sync_days=int(values["initial_sync_days"]),
            lookback=timedelta(hours=float(values["lookback_hours"])),
            correction_days=_not_negative(
                values, "correction_days", "days (0 turns the settlement re-read off)"
            ),
            correction_interval=timedelta(
                hours=_not_negative(
                    values, "correction_interval_hours", "hours (0 re-reads on every run)"
                )
            ),
            resolution=str(values["resolution"]),
            window_days=int(values["window_days"]),
            api_url=str(values["api_url"]).rstrip("/"),
            tokens=tokens,
            request_timeout_seconds=int(values["request_timeout_seconds"]),
            max_retries=int(values["max_retries"]),
            retry_wait_seconds=float(values["retry_wait_seconds"]),
            prices=PriceSettings.from_config(values),
            max_parallel_requests=int(values["max_parallel_requests"]),
            terms=parse_terms(values, zone),
        )


def parse_metering_points(value: object) -> tuple[str, ...]:
    """The metering point codes of the setting, in order.

    Each entry may hold several codes separated by commas and/or whitespace, so an environment
    variable like ``1234567,7654321`` placed into a one-item list works. Codes must be
    alphanumeric and unique.
    """
    codes = _codes(value, "The metering_points setting")
    if not codes:
        msg = (
            f"The metering_points setting is empty (got {value!r}). Set it to your metering "
            f'point code(s), e.g. ["1234567"]; in the Meltano project it usually comes from '
            f"the {METERING_POINT_ENV} environment variable (several codes separated by commas). "
            f"For several WattiVahti accounts set accounts or accounts_file instead."
        )
        raise TapWattiVahtiError(msg)
    return codes


def _codes(value: object, setting: str) -> tuple[str, ...]:
    """The codes of a metering point list (maybe none); ``setting`` names it in messages."""
    entries = [value] if isinstance(value, str) else value
    if not isinstance(entries, (list, tuple)):
        entries = []
    codes: list[str] = []
    for entry in entries:
        if not isinstance(entry, str):
            msg = (
                f"{setting} holds {entry!r}, which is not text: give the codes as strings, "
                f'e.g. ["1234567"].'
            )
            raise TapWattiVahtiError(msg)
        codes.extend(code for code in re.split(r"[\s,;]+", entry) if code)
    for code in codes:
        if not _CODE.fullmatch(code):
            msg = (
                f"{setting} holds {code!r}, which is not a metering point code: codes are "
                f"letters and digits only (seven digits for Pori Energia), separated by "
                f'commas, e.g. "1234567,7654321".'
            )
            raise TapWattiVahtiError(msg)
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    if duplicates:
        msg = (
            f"{setting} lists {', '.join(capped(duplicates))} more than once: list each "
            f"metering point once (each one is a partition with its own bookmark)."
        )
        raise TapWattiVahtiError(msg)
    return tuple(codes)


def parse_accounts(
    values: Mapping[str, t.Any], *, require_metering_points: bool = True
) -> tuple[Account, ...]:
    """The accounts of the settings: ``accounts``, ``accounts_file``, or the account
    ``default`` of the one-account settings (exactly one of the three forms).

    Names are unique; a metering point belongs to one account, a token file to one account.
    """
    listed = values.get("accounts") or None
    path = values.get("accounts_file")
    one_account = _one_account_settings(values)
    if listed is not None and path is not None:
        msg = (
            "Both accounts and accounts_file are set: set one of them (accounts_file for a "
            "long list, accounts for a short one)."
        )
        raise TapWattiVahtiError(msg)
    if listed is None and path is None:
        codes = _codes(values.get("metering_points"), "The metering_points setting")
        if require_metering_points and not codes:
            parse_metering_points(values.get("metering_points"))  # its own error
        seed = values.get("refresh_token")
        file = Path(values["refresh_token_file"])
        return (Account(DEFAULT_ACCOUNT, codes, file, seed),)
    source = "The accounts setting" if listed is not None else f"The accounts_file {path}"
    if one_account:
        msg = (
            f"Both forms of account settings are set: {' and '.join(one_account)} (the one "
            f"account) and {'accounts' if listed is not None else 'accounts_file'} (several). "
            f"Set one form: with accounts, give each account its metering_points and "
            f"refresh_token_file there, and unset {', '.join(one_account)} (in the Meltano "
            f"project: unset {METERING_POINT_ENV}, and {TOKEN_FILE_ALIAS} unless it is "
            f"{DEFAULTS['refresh_token_file']})."
        )
        raise TapWattiVahtiError(msg)
    entries = listed if listed is not None else _read_accounts_file(str(path))
    if not isinstance(entries, list) or not entries:
        msg = (
            f"{source} must be a non-empty JSON list of accounts, each "
            f'{{"name": ..., "metering_points": [...], "refresh_token_file": ...}} '
            f"(got {_shape(entries)})."
        )
        raise TapWattiVahtiError(msg)
    accounts = [_account(entry, index, source) for index, entry in enumerate(entries)]
    _check_distinct(accounts, source)
    return tuple(accounts)


def _one_account_settings(values: Mapping[str, t.Any]) -> list[str]:
    """The one-account settings that are set (``refresh_token_file`` when not its default)."""
    codes = _codes(values.get("metering_points"), "The metering_points setting")
    named = ["metering_points"] if codes else []
    if values.get("refresh_token"):
        named.append("refresh_token")
    if (
        values.get("refresh_token_file", DEFAULTS["refresh_token_file"])
        != DEFAULTS["refresh_token_file"]
    ):
        named.append("refresh_token_file")
    return named


def _read_accounts_file(path: str) -> object:
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        msg = (
            f"Cannot read the accounts_file {Path(path).absolute()}: {reason}. Set "
            f"accounts_file to a JSON file holding the list of accounts (a relative path is "
            f"relative to the folder the tap runs in: the Meltano project's folder)."
        )
        raise TapWattiVahtiError(msg) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        msg = (
            f"The accounts_file {Path(path).absolute()} is not valid JSON ({exc}). It must "
            f'hold a list of accounts, e.g. [{{"name": "flat-12", "metering_points": '
            f'["1234567"], "refresh_token_file": "tokens/flat-12.txt"}}].'
        )
        raise TapWattiVahtiError(msg) from None


def _account(entry: object, index: int, source: str) -> Account:
    """One entry of the accounts list, checked."""
    where = f"{source}, entry {index + 1}"
    if not isinstance(entry, dict):
        msg = f"{where} is {_shape(entry)}, not an object with name and metering_points."
        raise TapWattiVahtiError(msg)
    unknown = [key for key in entry if key not in _ACCOUNT_KEYS]
    if unknown:
        msg = (
            f"{where} has the key(s) {', '.join(map(repr, unknown))}, which an account does "
            f"not have: the keys are {', '.join(_ACCOUNT_KEYS)}."
        )
        raise TapWattiVahtiError(msg)
    name = entry.get("name")
    if not isinstance(name, str) or not _ACCOUNT_NAME.fullmatch(name):
        msg = (
            f"{where} has the name {name!r}: an account's name is letters, digits, _ . and - "
            f'only, e.g. "flat-12" (it names the account in messages, and its token).'
        )
        raise TapWattiVahtiError(msg)
    where = f"{source}, account {name}"
    codes = _codes(entry.get("metering_points"), f"{where}: metering_points")
    if not codes:
        msg = f'{where} has no metering_points: list its codes, e.g. ["1234567"].'
        raise TapWattiVahtiError(msg)
    file = entry.get("refresh_token_file") or f"refresh_tokens/{name}.txt"
    seed = entry.get("refresh_token") or None
    for key, value in (("refresh_token_file", file), ("refresh_token", seed)):
        if value is not None and not isinstance(value, str):
            msg = f"{where} has a {key} that is {_shape(value)}, not text."
            raise TapWattiVahtiError(msg)
    return Account(name, codes, Path(file), seed)


def _check_distinct(accounts: Sequence[Account], source: str) -> None:
    """Names, metering points and token files each belong to one account."""
    for what, keys in (
        ("name", lambda a: [a.name]),
        ("metering point", lambda a: list(a.metering_points)),
        ("refresh_token_file", lambda a: [os.path.realpath(a.refresh_token_file)]),
    ):
        owners: dict[str, list[str]] = {}
        for account in accounts:
            for key in keys(account):
                owners.setdefault(key, []).append(account.name)
        shared = {key: names for key, names in owners.items() if len(names) > 1}
        if not shared:
            continue
        if what == "name":
            msg = (
                f"{source} names {', '.join(capped(sorted(shared)))} more than once: each "
                f"account needs a name of its own."
            )
        else:
            clashes = [f"{key} ({' and '.join(names)})" for key, names in sorted(shared.items())]
            msg = (
                f"{source} gives the same {what} to more than one account: "
                f"{', '.join(capped(clashes))}. A {what} belongs to one account (its "
                f"bookmarks and token are that account's): list it under one only."
            )
        raise TapWattiVahtiError(msg)


def _database_uri(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text.startswith(("postgresql://", "postgres://")):
        msg = (
            "The token_database_uri setting is not a postgresql:// URI. Set it like "
            "postgresql://USER:PASSWORD@HOST:5432/DATABASE, or unset it to keep the tokens "
            "in files."
        )
        raise TapWattiVahtiError(msg)
    return text


def _shape(value: object) -> str:
    """What a JSON value is, for messages (never its content: it may hold a token)."""
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def capped(items: Sequence[str], limit: int = 10) -> list[str]:
    """``items`` for a message: at most ``limit`` of them, and how many more there are."""
    if len(items) <= limit:
        return list(items)
    return [*items[:limit], f"… and {len(items) - limit:,} more"]


def parse_timezone(name: str) -> ZoneInfo:
    """The ``timezone`` setting as a ZoneInfo; an unknown name is a clear error."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        msg = (
            f"The timezone setting {name!r} is not a known time zone: use an IANA name such as "
            f"{DEFAULTS['timezone']} (the time zone of the API's naive local times)."
        )
        raise TapWattiVahtiError(msg) from None


def _instant_setting(values: Mapping[str, t.Any], name: str, zone: ZoneInfo) -> datetime | None:
    text = values.get(name)
    if text is None:
        return None
    try:
        return parse_local(str(text), zone)
    except ValueError:
        msg = (
            f"The {name} setting {text!r} is not an ISO 8601 date or date-time, e.g. "
            f"2024-01-01 (local midnight) or 2024-01-01T00:00:00+02:00."
        )
        raise TapWattiVahtiError(msg) from None


def _not_negative(values: Mapping[str, t.Any], name: str, unit: str) -> int:
    value = values[name]
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    msg = (
        f"The {name} setting is {value!r}: give a whole number of {unit}, 0 or more; the "
        f"default is {DEFAULTS[name]}."
    )
    raise TapWattiVahtiError(msg)


def _url(values: Mapping[str, t.Any], name: str) -> str:
    url = str(values[name]).strip().rstrip("/")
    if url.startswith(("https://", "http://")):
        return url
    msg = (
        f"The {name} setting {values[name]!r} is not an http(s) URL: set it to one, or unset it "
        f"for the default {DEFAULTS[name]}."
    )
    raise TapWattiVahtiError(msg)


def config_warnings(
    config: Mapping[str, t.Any], schema: Mapping[str, t.Any], files: Sequence[str]
) -> list[str]:
    """What is likely wrong in ``config`` (its settings ``schema``, the SDK's built-in settings
    included) and its config ``files``: a key that is no setting, which does nothing (a typo?);
    a file that holds a secret and can be read by other users. See docs/design.md#config-checks.
    """
    settings = schema["properties"]
    known = set(settings) | SDK_UNDECLARED_SETTINGS
    warnings = []
    unknown = [_with_closest(key, known) for key in sorted(set(config) - known)]
    if unknown:
        warnings.append(
            f"Unknown setting(s), ignored: {', '.join(unknown)}. tap-wattivahti has no setting "
            f"of that name; correct it where it is set (meltano.yml, or the --config file): "
            f"`tap-wattivahti --about` lists the settings."
        )
    secrets = {name for name, spec in settings.items() if spec.get("secret")}
    warnings.extend(filter(None, (_exposed_secret(Path(file), secrets) for file in files)))
    return warnings


def _with_closest(key: str, known: Collection[str]) -> str:
    closest = difflib.get_close_matches(key, known, n=1)
    return f"{key!r} (did you mean {closest[0]!r}?)" if closest else repr(key)


def _exposed_secret(file: Path, secrets: Collection[str]) -> str | None:
    """The warning for a config ``file`` that sets one of the ``secrets`` and that users other
    than its owner can read: its mode lets them, and no folder above it is closed to them."""
    try:
        mode = file.stat().st_mode
        values = json.loads(file.read_text(encoding="utf-8"))
        closed = any(not folder.stat().st_mode & 0o011 for folder in file.resolve().parents)
    except (OSError, ValueError):
        return None  # the SDK reports a config file it cannot read
    held = sorted(name for name in secrets if isinstance(values, dict) and values.get(name))
    if not held or closed or not mode & (stat.S_IRGRP | stat.S_IROTH):
        return None
    if ".meltano" in file.parts:
        fix = (
            "Meltano writes this file for every run with the umask of the `meltano` process: "
            "make the project's .meltano folder private once (`chmod 700 .meltano`) and run "
            "Meltano with `umask 077`, as the README's cron line does"
        )
    else:
        fix = f"Make it private: chmod 600 {file}"
    return (
        f"The config file {file} holds a secret ({', '.join(held)}) and other users can read it "
        f"(mode {stat.S_IMODE(mode):04o}). {fix}."
    )
