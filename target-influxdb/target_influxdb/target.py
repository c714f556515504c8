"""The InfluxDB target: its settings, the choice of API flavour, how messages reach the sinks
and the pipeline (durability.py), signals, and the console entry point."""

from __future__ import annotations

import datetime
import gc
import json
import sys
import time
from collections.abc import Sequence
from functools import cached_property
from pathlib import PurePath
from types import FrameType
from typing import IO, Any

from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError, SingerSDKError
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.plugin_base import _ConfigInput
from singer_sdk.singerlib.exceptions import SingerError
from singer_sdk.sinks import Sink
from singer_sdk.target_base import Target

from target_influxdb.batch_files import batch_records
from target_influxdb.durability import Pipeline, Stop
from target_influxdb.errors import (
    ConfigurationError,
    StoppedError,
    StreamError,
    TargetInfluxDBError,
)
from target_influxdb.mapping import PRECISIONS
from target_influxdb.reader import LineCountingReader
from target_influxdb.sinks import InfluxDBSink, StreamReport, report_streams
from target_influxdb.writers import (
    Connection,
    Destination,
    V1Destination,
    V2Destination,
    open_writer,
    server_version,
)

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

_PER_STREAM = "An object whose keys are stream names"


class TargetInfluxDB(Target):
    """Singer target that loads any tap's streams into InfluxDB 1.x, 2.x, 3.x or VictoriaMetrics."""

    name = "target-influxdb"
    default_sink_class = InfluxDBSink
    message_reader_class = LineCountingReader

    config_jsonschema = th.PropertiesList(
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
            allowed_values=["auto", "v1", "v2"],
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
        th.Property(
            "username", th.StringType, title="Username", description="v1: user (basic auth)."
        ),
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
                "factor of two, at most 125 s). A server's Retry-After wins."
            ),
        ),
    ).to_dict()

    def __init__(
        self,
        *,
        config: dict | PurePath | str | list[PurePath | str] | None = None,
        parse_env_config: bool = False,
        validate_config: bool = True,
        setup_mapper: bool = True,
        message_reader: LineCountingReader | None = None,
    ) -> None:
        self.stop = Stop()  # first: the SDK's __init__ installs the signal handler
        super().__init__(
            config=config,
            parse_env_config=parse_env_config,
            validate_config=validate_config,
            setup_mapper=setup_mapper,
            message_reader=message_reader,
        )
        self.started_at = datetime.datetime.now(datetime.timezone.utc)
        self.stream_reports: dict[str, StreamReport] = {}
        self.connection = Connection(
            url=str(self._setting("url", "http://localhost:8086")),
            timeout=float(self._setting("timeout", 30)),
            verify_ssl=self._setting("verify_ssl", True) is not False,
            max_retries=int(self._setting("max_retries", 5)),
            retry_interval=float(self._setting("retry_interval", 5)),
        )
        self._configured = _configured_destinations(self.config)
        self.pipeline = Pipeline(self._open_writer, self._emit_state, self.stop)
        self.max_parallelism = 1  # sinks drain one by one: the pipeline writes one at a time
        self._direct: dict[str, InfluxDBSink] = {}  # streams whose records skip the SDK's path
        self._sinks: dict[str, InfluxDBSink] = {}  # the latest sink of each stream
        self._age_checked_at = time.monotonic()
        if self.stop.requested and isinstance(self.message_reader, LineCountingReader):
            self.message_reader.stopped = True  # a signal came during the SDK's set-up

    def _setting(self, name: str, default: Any) -> Any:
        """A setting's value; null (e.g. an empty variable in Meltano) means its default."""
        value = self.config.get(name)
        return default if value is None else value

    @cached_property
    def destination(self) -> Destination:
        """Where points go, chosen once (on the first stream) as `api_version` says."""
        api_version = self.config.get("api_version") or "auto"
        v1, v2 = self._configured
        if api_version == "v1" or (api_version == "auto" and v1 and not v2):
            if v1 is None:
                raise ConfigurationError(
                    "`api_version` is v1 but `database` is not set: set `database` (and "
                    "`username`/`password` if the server requires them)."
                )
            chosen, why = v1, "`database` is set" if api_version == "auto" else "configured"
        elif api_version == "v2" or (api_version == "auto" and v2 and not v1):
            if v2 is None:
                raise ConfigurationError(
                    "`api_version` is v2 but `bucket` is not set: set `bucket`, `org` and "
                    "`token` (line-protocol servers such as VictoriaMetrics need only `bucket`)."
                )
            chosen, why = v2, "`bucket` is set" if api_version == "auto" else "configured"
        elif v1 is None or v2 is None:
            raise ConfigurationError(
                "No destination is set: set `database` for InfluxDB 1.x, or `bucket`, `org` and "
                "`token` for InfluxDB 2.x/3.x/Cloud (`bucket` alone for VictoriaMetrics)."
            )
        else:
            chosen, why = self._ask_server(v1, v2)
        flavour = "v1 (/write)" if isinstance(chosen, V1Destination) else "v2 (/api/v2/write)"
        self.logger.info(
            "Writing to %s of %s with API %s: %s.",
            chosen.describe(),
            self.connection.display_url,
            flavour,
            why,
        )
        return chosen

    def _ask_server(self, v1: V1Destination, v2: V2Destination) -> tuple[Destination, str]:
        version = server_version(self.connection)
        major = (version or "").strip().lstrip("vV")[:1]
        if major == "1":
            return v1, f"both flavours' settings are set and the server is InfluxDB {version}"
        if major in {"2", "3"}:
            return v2, f"both flavours' settings are set and the server is InfluxDB {version}"
        said = f"version {version!r}" if version else "no X-Influxdb-Version header"
        raise ConfigurationError(
            f"Both `database` (v1) and `bucket` (v2) are set, and the server at "
            f"{self.connection.display_url} answered /ping with {said}, so it is not clear which "
            "API to use (VictoriaMetrics, for one, accepts both). Set `api_version` to v1 or v2."
        )

    def _open_writer(self) -> Any:
        precision = str(self._setting("precision", "s"))
        return open_writer(self.connection, self.destination, precision, self.stop.event)

    def _emit_state(self, value: Any) -> None:
        """Write a STATE message (its records are all acknowledged: see durability.py)."""
        text = json.dumps(value)
        self.logger.debug("Emitting state %s", text)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    @override
    def get_sink(
        self,
        stream_name: str,
        *,
        record: dict | None = None,
        schema: dict | None = None,
        key_properties: Sequence[str] | None = None,
    ) -> Sink:
        """The SDK's sink for the stream, attached to the pipeline when new. A sink that a new
        schema replaced writes its records now, so that no STATE waits for them."""
        previous = self._sinks.get(stream_name)
        sink = super().get_sink(
            stream_name, record=record, schema=schema, key_properties=key_properties
        )
        if isinstance(sink, InfluxDBSink) and sink is not previous:
            self._sinks[stream_name] = sink
            sink.attach(self.pipeline)
            _ = self.pipeline.writer  # settle the destination (and its errors) at SCHEMA
            if previous is not None:
                self.drain_one(previous)
        return sink

    def message_reader_bookmarks(self, stream: str) -> list[str]:
        """The bookmark properties of the stream's latest SCHEMA message."""
        reader = self.message_reader
        if isinstance(reader, LineCountingReader):
            return reader.bookmark_properties.get(stream, [])
        return []

    def message_reader_line(self) -> int | None:
        """The number of the input line being processed (None before the first)."""
        reader = self.message_reader
        return reader.line_number or None if isinstance(reader, LineCountingReader) else None

    def message_reader_time_extracted(self) -> str | None:
        """The ``time_extracted`` of the RECORD message being processed."""
        reader = self.message_reader
        return reader.time_extracted if isinstance(reader, LineCountingReader) else None

    @override
    def process_endofpipe(self) -> None:
        """Write what is left (unless a signal stopped the reading), then wait for the last
        write; the pipeline emits the last STATE once it is acknowledged."""
        reader = self.message_reader
        if self.stop.requested and not (isinstance(reader, LineCountingReader) and reader.finished):
            raise self.stop.error()
        super().process_endofpipe()  # drains every sink: each batch goes to the pipeline
        self.pipeline.wait()
        self.pipeline.close()
        report_streams(self)

    # Hooks of singer-sdk 0.54's Target with private names, kept here together. The SDK calls
    # them per message; they are overridden to count records for STATE, to skip per-record work
    # the target does not need, to read BATCH files as records, and to handle signals.

    @override
    def _process_schema_message(self, message_dict: dict) -> None:
        super()._process_schema_message(message_dict)
        stream = message_dict["stream"]
        self._direct.pop(stream, None)
        maps = self.mapper.stream_maps.get(stream) or []
        if len(maps) == 1 and type(maps[0]) is SameRecordTransform:
            stream_map = maps[0]
            sink = self.get_sink(stream_map.stream_alias)
            if (
                stream_map.stream_alias == stream
                and not stream_map.flattening_enabled
                and isinstance(sink, InfluxDBSink)
                and not sink.validate_schema
                and not sink.include_sdc_metadata_properties
            ):
                self._direct[stream] = sink

    @override
    def _process_record_message(self, message_dict: dict) -> None:
        """Count the record, then hand it straight to its sink when the SDK's path would only
        copy it (no stream map, flattening, validation or metadata), else to the SDK's path."""
        self.pipeline.records_read += 1
        sink = self._direct.get(message_dict.get("stream"))
        record = message_dict.get("record")
        if sink is None or type(record) is not dict:
            super()._process_record_message(message_dict)
            return
        if sink.add(record):
            self.logger.info(
                "Target sink for '%s' is full. Current size is '%d'. Draining...",
                sink.stream_name,
                sink.current_size,
            )
            self.drain_one(sink)
        now = time.monotonic()
        if now >= self._age_checked_at + 1:  # the SDK's 5-minute drain, asked once a second
            self._age_checked_at = now
            self._handle_max_record_age()

    @override
    def _process_state_message(self, message_dict: dict) -> None:
        """Hand the STATE to the pipeline, which emits it once the records before it are stored
        (the SDK's own emits its latest STATE after any drain, also on a signal)."""
        self._assert_line_requires(message_dict, requires={"value"})
        self.pipeline.state(message_dict["value"])

    @override
    def _process_batch_message(self, message_dict: dict) -> None:
        """Each record of the BATCH files goes the way of a RECORD message of the stream (the
        SDK's own hands the files' records to ``process_batch``, which this sink does not read
        them from)."""
        self._assert_line_requires(message_dict, requires={"stream", "encoding", "manifest"})
        stream = message_dict["stream"]
        if stream not in self.mapper.stream_maps:
            self._assert_sink_exists(stream)
        records = batch_records(stream, message_dict["encoding"], message_dict["manifest"])
        for url, number, record in records:
            try:
                self._process_record_message({"type": "RECORD", "stream": stream, "record": record})
            except StreamError as exc:
                exc.source = exc.source or f"record {number} of BATCH file {url}"
                raise

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT: stop reading; the write in flight finishes or fails within its
        timeout, no other starts, and the run ends non-zero unless all input was stored. (The
        SDK's handler drains from inside the handler, emits its latest STATE and exits 0.)"""
        if not self.stop.requested:
            self.logger.warning(
                "Received signal %d: stopping (the write in flight may finish; no new one starts).",
                signum,
            )
        self.stop.request(signum)
        reader = getattr(self, "message_reader", None)  # (None while the SDK sets up)
        if isinstance(reader, LineCountingReader):
            reader.interrupt()

    @classmethod
    @override
    def invoke(  # type: ignore[override]
        cls,
        *,
        about: bool = False,
        about_format: str | None = None,
        config: _ConfigInput | None = None,
        file_input: IO[str] | None = None,
    ) -> None:
        """Run the target (as the SDK's ``Target.invoke`` does), ending an expected failure as
        one paragraph on stderr (with the input line number where there is one) and exit 1."""
        if about:
            cls.print_about(about_format)
            sys.exit(0)
        cls.print_version(print_fn=cls.logger.info)
        config = config or _ConfigInput()
        target: TargetInfluxDB | None = None
        try:
            target = cls(
                config=config.config, validate_config=True, parse_env_config=config.parse_env
            )
            # What start-up made (modules, classes, settings) lives as long as the process:
            # keep the garbage collector from scanning it again every few thousand records.
            gc.freeze()
            target.listen(file_input)
        except ConfigValidationError:
            raise  # the SDK's command prints these itself
        except (TargetInfluxDBError, SingerSDKError, SingerError) as exc:
            if target is None:
                cls.logger.error("%s", _paragraph(exc, None))
                sys.exit(1)
            target.pipeline.close()  # the write in flight finishes (and may emit STATE)
            cls.logger.error("%s", _paragraph(exc, target.message_reader_line()))
            if not target.stop.requested:
                sys.exit(1)
            stopped = exc if isinstance(exc, StoppedError) else target.stop.error()
            if stopped is not exc:
                cls.logger.error("%s", stopped)
            sys.exit(128 + stopped.signum)


def _configured_destinations(
    config: Any,
) -> tuple[V1Destination | None, V2Destination | None]:
    v1 = v2 = None
    if config.get("database"):
        v1 = V1Destination(
            database=config["database"],
            retention_policy=config.get("retention_policy") or None,
            username=config.get("username") or None,
            password=config.get("password") or None,
        )
    if config.get("bucket"):
        v2 = V2Destination(
            bucket=config["bucket"],
            org=config.get("org") or None,
            token=config.get("token") or None,
        )
    return v1, v2


def _paragraph(exc: BaseException, line: int | None) -> str:
    """The failure as one paragraph: our messages as they are, others with their line number."""
    if isinstance(exc, TargetInfluxDBError):
        return str(exc)
    where = f"Input line {line}: " if line else ""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{where}{text} ({type(exc).__name__}). Fix the tap's output and run again."
