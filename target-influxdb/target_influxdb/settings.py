"""The target's settings: their JSON schema, and the only code that reads them.

:data:`SCHEMA` is the one place of every setting's default. The SDK writes those defaults into a
target's config before anything reads it (its config validator gives a missing key the
property's ``default``; see docs/library-notes.md#schema-defaults), but it leaves a key that is
set to null as it is, and null passes validation. :class:`Settings` is the config as the target
uses it: a setting set to null or to an empty text (an empty environment variable under Meltano)
counts as unset, so it gets its default from :data:`SCHEMA` here too, and nowhere else.

The SDK reads its built-in settings itself: ``stream_maps``, ``stream_map_config``,
``flattening_enabled``, ``flattening_max_depth``, ``validate_records`` and
``add_record_metadata`` (a null there means off, as their defaults here say), and
``batch_size_rows``, whose value the sinks take from :class:`Settings` instead (the SDK would
make a null 10,000; docs/library-notes.md#sdk-builtin-settings).

:func:`warn_about_config` logs what in a config is likely a mistake the target would otherwise
pass over in silence: a setting name it does not know, a secret in a file others can read.
"""

from __future__ import annotations

import copy
import difflib
import json
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from singer_sdk import typing as th

if TYPE_CHECKING:
    from singer_sdk import Target

_PER_STREAM = "An object whose keys are stream names"
API_VERSIONS = ("auto", "v1", "v2")
PRECISIONS = ("s", "ms", "us", "ns")
MAX_RETRY_DELAY = 125.0  # seconds: the longest wait between two tries, also for Retry-After
#: Config keys singer-sdk reads from a target's config without declaring them as settings
#: (``batch_config``: the target leaves it out of its settings, as it does nothing here;
#: docs/library-notes.md#sdk-undeclared-settings).
SDK_UNDECLARED_SETTINGS = frozenset({"batch_config", "process_activate_version_messages"})

SCHEMA: dict[str, Any] = th.PropertiesList(
    th.Property(
        "url",
        th.StringType,
        default="http://localhost:8086",
        title="URL",
        description="Server URL, e.g. http://localhost:8086 (a path prefix is kept).",
    ),
    th.Property(
        "api_version",
        th.StringType,
        default="auto",
        allowed_values=list(API_VERSIONS),
        title="API version",
        description=(
            "`v1`: InfluxDB 1.x `/write` with `database`, `retention_policy`, `username`, "
            "`password`. `v2`: `/api/v2/write` (InfluxDB 2.x, 3.x, Cloud, and line-protocol "
            "servers such as VictoriaMetrics) with `bucket`, `org`, `token`. `auto`: v2 when "
            "only `bucket` is set, v1 when only `database` is set, else the server's /ping "
            "decides. An explicit version ignores the other version's settings."
        ),
    ),
    th.Property(
        "token",
        th.StringType,
        secret=True,
        title="Token",
        description="v2: API token with write access to the bucket.",
    ),
    th.Property("org", th.StringType, title="Organization", description="v2: organization."),
    th.Property("bucket", th.StringType, title="Bucket", description="v2: bucket to write to."),
    th.Property(
        "database", th.StringType, title="Database", description="v1: database to write to."
    ),
    th.Property(
        "retention_policy",
        th.StringType,
        title="Retention policy",
        description="v1: retention policy (default: the database's default policy).",
    ),
    th.Property("username", th.StringType, title="Username", description="v1: user (basic auth)."),
    th.Property(
        "password",
        th.StringType,
        secret=True,
        title="Password",
        description="v1: the user's password.",
    ),
    th.Property(
        "measurements",
        th.ObjectType(additional_properties=th.StringType),
        title="Measurements",
        description=f"{_PER_STREAM}, values measurement names (default: the stream name).",
    ),
    th.Property(
        "tag_keys",
        th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
        title="Tag keys",
        description=(
            f"{_PER_STREAM}, values lists of properties written as tags (default: the "
            "stream's key properties, less the time property). Empty tag values are left out."
        ),
    ),
    th.Property(
        "timestamp_key",
        th.ObjectType(additional_properties=th.StringType),
        title="Timestamp key",
        description=(
            f"{_PER_STREAM}, values the property holding the point time: an ISO 8601 "
            "date-time (naive means UTC) or an integer in `precision` units (default: the "
            "stream's date-time key property, else its date-time replication key, else the "
            "record's extraction time)."
        ),
    ),
    th.Property(
        "precision",
        th.StringType,
        default="s",
        allowed_values=list(PRECISIONS),
        title="Precision",
        description="Time precision of the points: s, ms, us or ns (finer parts are cut).",
    ),
    th.Property(
        "batch_size_rows",
        th.IntegerType,
        default=5000,
        title="Batch size rows",
        description="Records per write; STATE follows only acknowledged writes.",
    ),
    th.Property(
        "validate_records",
        th.BooleanType,
        default=False,
        title="Validate records",
        description=(
            "Validate every record against the stream's full JSON schema (required, enum, "
            "patterns, ...). Off by default: it costs more than half of the run time, and "
            "the target checks every value it writes against its property's type anyway "
            "(a value that does not fit stops the run, naming stream, property and value)."
        ),
    ),
    th.Property(
        "add_record_metadata",
        th.BooleanType,
        default=False,
        title="Add record metadata",
        description=(
            "Write the SDK's `_sdc_*` metadata (extraction time, sequence, ...) and any "
            "`_sdc_*` properties of the tap as fields. Off: they are left out."
        ),
    ),
    th.Property(
        "load_method",
        th.StringType,
        default="append-only",
        title="Load method",
        description=(
            "Has no effect: InfluxDB keeps one point per measurement, tags and time, so "
            "every write replaces the point it lands on (an upsert), which makes replays safe."
        ),
    ),
    th.Property(
        "timeout",
        th.NumberType,
        default=30,
        title="Timeout",
        description="Seconds to wait for the server's answer to one request.",
    ),
    th.Property(
        "verify_ssl",
        th.BooleanType,
        default=True,
        title="Verify SSL",
        description="Verify the server's TLS certificate (https URLs).",
    ),
    th.Property(
        "max_retries",
        th.IntegerType,
        default=5,
        title="Max retries",
        description=(
            "Retries of a write after HTTP 429, 5xx or a connection error, before the run "
            "fails (0: no retry)."
        ),
    ),
    th.Property(
        "retry_interval",
        th.NumberType,
        default=5,
        title="Retry interval",
        description=(
            "Seconds before the first retry; each next wait doubles (randomly within a "
            f"factor of two, at most {MAX_RETRY_DELAY:g} s). A server's Retry-After wins."
        ),
    ),
).to_dict()

#: Every setting's default, as :data:`SCHEMA` declares it.
DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {name: spec["default"] for name, spec in SCHEMA["properties"].items() if "default" in spec}
)


def given(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` over the defaults; a null or empty value counts as unset."""
    merged = dict(DEFAULTS)
    merged.update({name: value for name, value in config.items() if value not in (None, "")})
    return merged


@dataclass(frozen=True)
class Connection:
    """Where the server is and how patiently to talk to it."""

    url: str
    timeout: float
    verify_ssl: bool
    max_retries: int
    retry_interval: float

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


def display_url(url: str) -> str:
    """``url`` with any ``user:password@`` removed."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit(parts._replace(netloc=netloc))


@dataclass(frozen=True)
class Settings:
    """The target's config, as the target and its sinks use it."""

    connection: Connection
    api_version: str
    #: The destination of each flavour whose settings are given (``database``; ``bucket``).
    v1: V1Destination | None
    v2: V2Destination | None
    measurements: Mapping[str, str]
    tag_keys: Mapping[str, Sequence[str]]
    timestamp_key: Mapping[str, str]
    precision: str
    batch_size_rows: int
    write_metadata: bool

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        """The settings of a config that the SDK validated against :data:`SCHEMA`."""
        values = given(config)
        return cls(
            connection=Connection(
                url=str(values["url"]),
                timeout=float(values["timeout"]),
                verify_ssl=bool(values["verify_ssl"]),
                max_retries=int(values["max_retries"]),
                retry_interval=float(values["retry_interval"]),
            ),
            api_version=str(values["api_version"]),
            v1=V1Destination(
                database=values["database"],
                retention_policy=values.get("retention_policy"),
                username=values.get("username"),
                password=values.get("password"),
            )
            if values.get("database")
            else None,
            v2=V2Destination(
                bucket=values["bucket"], org=values.get("org"), token=values.get("token")
            )
            if values.get("bucket")
            else None,
            measurements=values.get("measurements") or {},
            tag_keys=values.get("tag_keys") or {},
            timestamp_key=values.get("timestamp_key") or {},
            precision=str(values["precision"]),
            batch_size_rows=int(values["batch_size_rows"]),
            write_metadata=bool(values["add_record_metadata"]),
        )


def warn_about_config(
    target: type[Target], config: Mapping[str, Any], files: Sequence[str]
) -> None:
    """Log a WARNING for each likely mistake in ``config``, read from the --config ``files``: keys
    that are no setting of ``target`` (its own or the SDK's built-in ones), which do nothing;
    each file that holds a secret and can be read by other users. See
    docs/design.md#config-checks."""
    schema = copy.deepcopy(target.config_jsonschema)
    target.append_builtin_config(schema)
    known = set(schema["properties"]) | SDK_UNDECLARED_SETTINGS
    unknown = sorted(set(config) - known)
    if unknown:
        names = []
        for key in unknown:
            closest = difflib.get_close_matches(key, known, n=1)
            names.append(f"{key!r} (did you mean {closest[0]!r}?)" if closest else repr(key))
        target.logger.warning(
            "Unknown setting(s), ignored: %s. target-influxdb has no setting of that name; "
            "correct it where it is set (meltano.yml, or the --config file): "
            "`target-influxdb --about` lists the settings.",
            ", ".join(names),
        )
    secrets = {name for name, spec in schema["properties"].items() if spec.get("secret")}
    for file in files:
        exposed = _exposed(Path(file), secrets) if file != "ENV" else None
        if exposed:
            target.logger.warning("%s", exposed)


def _exposed(file: Path, secrets: set[str]) -> str | None:
    """Why a config ``file`` that sets a secret is readable by other users and how to stop it,
    or None: its mode lets group or others read it and every folder above lets them pass."""
    try:
        mode = stat.S_IMODE(file.stat().st_mode)
        values = json.loads(file.read_text(encoding="utf-8"))
        open_folders = all(folder.stat().st_mode & 0o011 for folder in file.resolve().parents)
    except (OSError, ValueError):
        return None  # the SDK reports a config file it cannot read
    held = [name for name in sorted(secrets) if isinstance(values, dict) and values.get(name)]
    if not (held and open_folders and mode & 0o044):
        return None
    if ".meltano" in file.parts:
        remedy = (
            "Meltano writes this file anew for every run, with the umask of the `meltano` "
            "process: make the project's .meltano folder private once (`chmod 700 .meltano`) "
            "and run Meltano with `umask 077`, as the README's cron line does"
        )
    else:
        remedy = f"Make it private: chmod 600 {file}"
    return (
        f"The config file {file} holds a secret ({', '.join(held)}) and other users can read "
        f"it (mode {mode:04o}). {remedy}."
    )
