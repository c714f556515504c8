"""The InfluxDB target: the choice of API flavour, how messages reach the sinks and the pipeline
(durability.py), signals, and how a failed run ends on the command line."""

from __future__ import annotations

import datetime
import gc
import json
import sys
import time
from functools import cached_property
from pathlib import PurePath
from typing import Any, ClassVar

import click
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.plugin_base import SingerCommand
from typing_extensions import override

from target_influxdb import errors
from target_influxdb.batch_files import batch_records
from target_influxdb.compat import TargetHooks
from target_influxdb.durability import Pipeline, Stop
from target_influxdb.errors import EXPECTED, StoppedError, StreamError
from target_influxdb.mapping import plan_stream
from target_influxdb.reader import LineCountingReader
from target_influxdb.settings import (
    SCHEMA,
    Destination,
    Settings,
    V1Destination,
    V2Destination,
    warn_about_config,
)
from target_influxdb.sinks import InfluxDBSink, StreamReport, StreamRun, report_streams
from target_influxdb.writers import Writer, open_writer, server_version


class TargetInfluxDB(TargetHooks):
    """Singer target that loads any tap's streams into InfluxDB 1.x, 2.x, 3.x or VictoriaMetrics."""

    name = "target-influxdb"
    default_sink_class = InfluxDBSink
    message_reader_class = LineCountingReader
    config_jsonschema = SCHEMA
    #: The SDK's, and ``batch``: BATCH messages are read (see :meth:`on_batch`).
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        *TargetHooks.capabilities,
        PluginCapabilities.BATCH,
    ]

    @classmethod
    @override
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """The SDK's built-in settings, less ``batch_config``, which the ``batch`` capability
        brings: the SDK's own reading of BATCH files takes their storage from it, while this
        target reads each file at the URL its message names, so the setting would do nothing
        (docs/library-notes.md#sdk-builtin-settings)."""
        super().append_builtin_config(config_jsonschema)
        config_jsonschema["properties"].pop("batch_config", None)

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
        self.settings = Settings.from_config(self.config)
        self.started_at = datetime.datetime.now(datetime.timezone.utc)
        self.pipeline = Pipeline(self._open_writer, self._emit_state, self.stop)
        self.max_parallelism = 1  # sinks drain one by one: the pipeline writes one at a time
        self._reports: dict[str, StreamReport] = {}  # per stream (alias), shared by its sinks
        self._sinks: dict[str, InfluxDBSink] = {}  # the latest sink of each stream (alias)
        self._direct: dict[str, InfluxDBSink] = {}  # streams whose records skip the SDK's path
        self._age_checked_at = time.monotonic()
        if self.stop.requested and isinstance(self.message_reader, LineCountingReader):
            self.message_reader.stopped = True  # a signal came during the SDK's set-up
        command = click.get_current_context(silent=True)
        if command is not None:  # run by the command line (_TargetCommand), as its only run
            command.obj = self
            # What start-up made (modules, classes, settings) lives as long as the process:
            # keep the garbage collector from scanning it again every few thousand records.
            gc.freeze()

    @cached_property
    def destination(self) -> Destination:
        """Where points go, chosen once (on the first stream) as `api_version` says."""
        api_version, v1, v2 = self.settings.api_version, self.settings.v1, self.settings.v2
        if api_version == "v1" or (api_version == "auto" and v1 and not v2):
            if v1 is None:
                raise errors.no_database()
            chosen, why = v1, "`database` is set" if api_version == "auto" else "configured"
        elif api_version == "v2" or (api_version == "auto" and v2 and not v1):
            if v2 is None:
                raise errors.no_bucket()
            chosen, why = v2, "`bucket` is set" if api_version == "auto" else "configured"
        elif v1 is None or v2 is None:
            raise errors.no_destination()
        else:
            chosen, why = self._ask_server(v1, v2)
        flavour = "v1 (/write)" if isinstance(chosen, V1Destination) else "v2 (/api/v2/write)"
        self.logger.info(
            "Writing to %s of %s with API %s: %s.",
            chosen.describe(),
            self.settings.connection.display_url,
            flavour,
            why,
        )
        return chosen

    def _ask_server(self, v1: V1Destination, v2: V2Destination) -> tuple[Destination, str]:
        version = server_version(self.settings.connection)
        major = (version or "").strip().lstrip("vV")[:1]
        if major == "1":
            return v1, f"both flavours' settings are set and the server is InfluxDB {version}"
        if major in {"2", "3"}:
            return v2, f"both flavours' settings are set and the server is InfluxDB {version}"
        raise errors.unclear_flavour(self.settings.connection, version)

    def _open_writer(self) -> Writer:
        settings = self.settings
        return open_writer(
            settings.connection, self.destination, settings.precision, self.stop.event
        )

    def _emit_state(self, value: Any) -> None:
        """Write a STATE message (its records are all acknowledged: see durability.py)."""
        text = json.dumps(value)
        self.logger.debug("Emitting state %s", text)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def end_failed_run(self, exc: BaseException) -> tuple[list[str], int]:
        """End a run that ``exc`` stopped: the write in flight finishes (and may emit its
        STATE) and the connection closes. Return the paragraphs to log and the exit status:
        1, or 128 + the signal when a signal stopped the run."""
        self.pipeline.close()
        reader = self.message_reader
        line = reader.line_number or None if isinstance(reader, LineCountingReader) else None
        paragraphs = [errors.paragraph(exc, line)]
        if not self.stop.requested:
            return paragraphs, 1
        stopped = exc if isinstance(exc, StoppedError) else self.stop.error()
        if stopped is not exc:
            paragraphs.append(str(stopped))
        return paragraphs, 128 + stopped.signum

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
        report_streams(self._reports, self.logger)

    @override
    def on_schema(self, message: dict) -> None:
        """Let the SDK make the stream's sinks, then give each new one its plan, the pipeline
        and its report; a sink that a new schema replaced writes its records now, so that no
        STATE waits for them. The destination (and its errors) is settled here, at the first
        SCHEMA."""
        super().on_schema(message)
        stream = message["stream"]
        bookmarks = list(message.get("bookmark_properties") or [])
        self._direct.pop(stream, None)
        maps = self.mapper.stream_maps.get(stream) or []
        for stream_map in maps:
            alias = stream_map.stream_alias
            if not self.sink_exists(alias):
                continue
            sink = self.get_sink(alias)
            previous = self._sinks.get(alias)
            if not isinstance(sink, InfluxDBSink) or sink is previous:
                continue
            sink.attach(self._stream_run(sink, bookmarks))
            self._sinks[alias] = sink
            _ = self.pipeline.writer  # the destination, and its errors, at the first SCHEMA
            if previous is not None:
                self.drain_one(previous)
        if len(maps) == 1 and type(maps[0]) is SameRecordTransform:
            sink = self._sinks.get(maps[0].stream_alias)
            if (
                maps[0].stream_alias == stream
                and not maps[0].flattening_enabled
                and sink is not None
                and not sink.validate_schema
                and not sink.include_sdc_metadata_properties
            ):
                self._direct[stream] = sink

    def _stream_run(self, sink: InfluxDBSink, bookmarks: list[str]) -> StreamRun:
        """The plan of a new sink's stream, and what else it needs from the run."""
        settings = self.settings
        plan = plan_stream(
            sink.stream_name,
            sink.schema,
            sink.key_properties,
            bookmarks,
            measurements=settings.measurements,
            tag_keys=settings.tag_keys,
            timestamp_key=settings.timestamp_key,
            write_metadata=settings.write_metadata,
        )
        return StreamRun(
            plan=plan,
            precision=settings.precision,
            batch_size=settings.batch_size_rows,
            pipeline=self.pipeline,
            report=self._reports.setdefault(sink.stream_name, StreamReport()),
            started_at=self.started_at,
        )

    @override
    def on_record(self, message: dict) -> None:
        """Count the record, then hand it straight to its sink when the SDK's path would only
        copy it (no stream map, flattening, validation or metadata), else to the SDK's path."""
        self.pipeline.records_read += 1
        stream: Any = message.get("stream")
        sink = self._direct.get(stream)
        record = message.get("record")
        if sink is None or type(record) is not dict:
            for stream_map in self.mapper.stream_maps.get(stream) or ():
                mapped = self._sinks.get(stream_map.stream_alias)
                if mapped is not None:
                    mapped.time_extracted = message.get("time_extracted")
            super().on_record(message)
            return
        if sink.add(record, message.get("time_extracted")):
            self.logger.info(
                "Target sink for '%s' is full. Current size is '%d'. Draining...",
                sink.stream_name,
                sink.current_size,
            )
            self.drain_one(sink)
        now = time.monotonic()
        if now >= self._age_checked_at + 1:  # the SDK's 5-minute drain, asked once a second
            self._age_checked_at = now
            self.drain_if_old()

    @override
    def on_state(self, message: dict) -> None:
        """Hand the STATE to the pipeline, which emits it once the records before it are stored
        (the SDK's own emits its latest STATE after any drain, also on a signal)."""
        self.require(message, {"value"})
        self.pipeline.state(message["value"])

    @override
    def on_batch(self, message: dict) -> None:
        """Each record of the BATCH files goes the way of a RECORD message of the stream (the
        SDK's own hands the files' records to ``process_batch``, which this sink does not read
        them from)."""
        self.require(message, {"stream", "encoding", "manifest"})
        stream = message["stream"]
        if stream not in self.mapper.stream_maps:
            self.require_sink(stream)
        records = batch_records(stream, message["encoding"], message["manifest"])
        for url, number, record in records:
            try:
                self.on_record({"type": "RECORD", "stream": stream, "record": record})
            except StreamError as exc:
                exc.source = exc.source or f"record {number} of BATCH file {url}"
                raise

    @override
    def on_signal(self, signum: int) -> None:
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
    def cb_config(cls, ctx: click.Context, param: click.Option, value: tuple[str, ...]) -> Any:
        """The SDK's reading of the --config files, then the warnings about them (settings.py)."""
        config = super().cb_config(ctx, param, value)
        warn_about_config(cls, config.config, value)
        return config

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        """The SDK's command, ending an expected failure as one paragraph and an exit code."""
        command = super().get_singer_command()
        return _TargetCommand(
            name=command.name,
            callback=command.callback,
            params=command.params,
            help=command.help,
            context_settings=command.context_settings,
            logger=cls.logger,
        )


class _TargetCommand(SingerCommand):
    """The SDK's command, ending an expected failure as the one-paragraph ERROR lines of
    :meth:`TargetInfluxDB.end_failed_run` (no traceback) and its exit status. The target the
    SDK's ``Target.invoke`` makes registers itself as the command's context object
    (docs/library-notes.md#sdk-command)."""

    @override
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EXPECTED as exc:
            target = ctx.obj
            if isinstance(target, TargetInfluxDB):
                paragraphs, status = target.end_failed_run(exc)
            else:  # the target could not be made
                paragraphs, status = [errors.paragraph(exc, None)], 1
            for paragraph in paragraphs:
                self.logger.error("%s", paragraph)
            sys.exit(status)
