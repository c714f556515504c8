"""The InfluxDB target: the choice of API flavour, how messages reach the sinks and the pipeline
(durability.py), signals, and how a failed run ends on the command line."""

from __future__ import annotations

import contextlib
import datetime
import gc
import json
import os
import sys
import time
from collections.abc import Callable, Generator
from functools import cached_property
from pathlib import PurePath
from typing import Any, ClassVar

import click
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.plugin_base import SingerCommand
from typing_extensions import override

from target_influxdb import errors
from target_influxdb.batch_files import batch_records
from target_influxdb.compat import TargetHooks
from target_influxdb.durability import Pipeline, Stop
from target_influxdb.errors import EXPECTED, StoppedError, StreamError
from target_influxdb.mapping import DELETED_AT, TEXT_KINDS, plan_stream
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
from target_influxdb.writers import Server, Writer, open_writer, ping


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
        """Make the target; what that does beside the SDK's set-up is in :meth:`_set_up`."""

        def sdk_set_up() -> None:
            super(TargetInfluxDB, self).__init__(
                config=config,
                parse_env_config=parse_env_config,
                validate_config=validate_config,
                setup_mapper=setup_mapper,
                message_reader=message_reader,
            )

        self._set_up(sdk_set_up)

    def _set_up(self, sdk_set_up: Callable[[], None]) -> None:
        """The one place of the target's start-up side effects, in the order they must happen.

        1. The stop request exists before the SDK's set-up, which installs the SIGTERM/SIGINT
           handler (:meth:`on_signal`) that sets it; a signal that comes during the set-up
           stops the reader as soon as there is one.
        2. The SDK's set-up (config validation, stream maps, the reader); a config that does
           not match the settings' schema is one paragraph (:func:`errors.invalid_settings`).
        3. Run by the command line (``_TargetCommand``), as the process's only run: the target
           becomes the click context's object, so that a failure ends through
           :meth:`end_failed_run`, and what start-up made (modules, classes, settings), which
           lives as long as the process, is frozen for the garbage collector (``gc.freeze()``),
           which would otherwise scan it again every few thousand records.
        4. Not here but at the first SCHEMA (:meth:`_open_destination`): the destination is
           chosen and the writer opened, so that their errors (a missing `database`, a server
           whose flavour is unclear) end the run before any record is taken, while `--about`
           and an input without streams never need them.
        """
        self.stop = Stop()
        try:
            sdk_set_up()
        except ConfigValidationError as exc:
            raise errors.invalid_settings(exc.errors or [str(exc)]) from None
        self.settings = Settings.from_config(self.config)
        self.started_at = datetime.datetime.now(datetime.timezone.utc)
        self.pipeline = Pipeline(self._open_writer, self._emit_state, self.stop)
        self.arrivals = self.pipeline.arrivals
        self.max_parallelism = 1  # sinks drain one by one: the pipeline writes one at a time
        self._reports: dict[str, StreamReport] = {}  # per stream (alias), shared by its sinks
        self._sinks: dict[str, InfluxDBSink] = {}  # the latest sink of each stream (alias)
        self._direct: dict[str, InfluxDBSink] = {}  # streams whose records skip the SDK's path
        self._age_checked_at = time.monotonic()
        if self.stop.requested and isinstance(self.message_reader, LineCountingReader):
            self.message_reader.stopped = True
        command = click.get_current_context(silent=True)
        if command is not None:
            command.obj = self
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

    @cached_property
    def server(self) -> Server:
        """What the server's /ping says, asked once (a server it cannot reach is reported by
        the first write, after its retries)."""
        return ping(self.settings.connection)

    def _ask_server(self, v1: V1Destination, v2: V2Destination) -> tuple[Destination, str]:
        if self.server.unreachable is not None:
            raise self.server.unreachable
        version = self.server.version
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

    def end_failed_run(self, exc: BaseException) -> tuple[str, int]:
        """End a run that ``exc`` stopped: the write in flight finishes (and may emit its
        STATE) and the connection closes. Return the run's last paragraph and exit status
        (see "How a plugin ends a failed run" in the README)."""
        late = self.pipeline.close()  # the write in flight's own failure, if any
        reader = self.message_reader
        line = reader.line_number or None if isinstance(reader, LineCountingReader) else None
        stopped = None
        if self.stop.requested:
            stopped = exc if isinstance(exc, StoppedError) else self.stop.error()
        return errors.ending(self.name, exc, line, late, stopped)

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
            self._open_destination()
            sink.attach(self._stream_run(sink, bookmarks))
            self._sinks[alias] = sink
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

    def _open_destination(self) -> None:
        """Choose the destination and open the writer (at the first SCHEMA: see
        :meth:`_set_up`)."""
        _ = self.pipeline.writer
        _ = self.server

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
        report = self._reports.setdefault(sink.stream_name, StreamReport())
        # A stream's points keep their tags and time for the run
        # (docs/design.md#target-influxdb-settings-and-mapping).
        taken = report.taken_with
        if taken is not None and (taken.tags, taken.time_property) != (
            plan.tags,
            plan.time_property,
        ):
            raise StreamError(
                f"Stream '{plan.stream}': a new SCHEMA message changes its points after records "
                f"were taken the old way (tags {list(taken.tags)} → {list(plan.tags)}, time "
                f"from {taken.time_property!r} → {plan.time_property!r}; key properties "
                f"{list(taken.key_properties)} → {list(plan.key_properties)}). InfluxDB would "
                "keep one record in two series (a tag, then a field of the same name), doubling "
                "every sum, so the run stops before the new schema's records and no STATE "
                "covers them. Keep the stream's key properties unchanged in the tap, or fix its "
                "tags with `tag_keys` (and its time with `timestamp_key`) for this stream, so "
                "that key properties no longer decide them."
            )
        strings = [spec.prop for spec in plan.fields if spec.kind in TEXT_KINDS]
        if strings and self.server.victoria_metrics and not report.victoria_metrics_warned:
            report.victoria_metrics_warned = True
            self.logger.warning(
                "Stream '%s': the server is VictoriaMetrics, which stores numbers only: the "
                "string fields %s are not stored as text (VictoriaMetrics 1.79 stores 0). Make "
                "them tags (`tag_keys` for this stream; VictoriaMetrics keeps tags as labels), or "
                'leave them out with a stream map (`stream_maps`: {"%s": {"%s": null}}).',
                plan.stream,
                strings,
                plan.stream,
                strings[0],
            )
        return StreamRun(
            plan=plan,
            precision=settings.precision,
            batch_size=settings.batch_size_rows,
            pipeline=self.pipeline,
            report=report,
            started_at=self.started_at,
            deletes=not self.server.victoria_metrics,
        )

    @override
    def on_record(self, message: dict) -> None:
        """Number the record (its :class:`Arrival`, which its sinks read), then hand it
        straight to its sink when the SDK's path would only copy it (no stream map, flattening,
        validation or metadata), else to the SDK's path."""
        record = message.get("record")
        if type(record) is not dict:  # the SDK's path says what is wrong
            record, sink = {}, None
        else:
            sink = self._direct.get(message.get("stream"))
        arrivals = self.arrivals
        arrivals.arrive(message.get("time_extracted"), record.get(DELETED_AT) is not None)
        try:
            if sink is None:
                super().on_record(message)
            elif sink.add(record):
                self._drain_full(sink)
        finally:
            arrivals.leave()
        if sink is not None:
            now = time.monotonic()
            if now >= self._age_checked_at + 1:  # the SDK's 5-minute drain, asked once a second
                self._age_checked_at = now
                self.drain_if_old()

    def _drain_full(self, sink: InfluxDBSink) -> None:
        self.logger.info(
            "Target sink for '%s' is full. Current size is '%d'. Draining...",
            sink.stream_name,
            sink.current_size,
        )
        self.drain_one(sink)

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
    """The SDK's command, ending an expected failure as one paragraph and an exit status
    (:func:`errors.ending`; see "How a plugin ends a failed run" in the README). The target
    the SDK's ``Target.invoke`` makes registers itself as the command's context object
    (docs/library-notes.md#sdk-command), so that the paragraph can name the input line and
    the run's stop."""

    @override
    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command (click's parsing and option callbacks included). What the imports
        made is frozen for the garbage collector first, as the tap does (``gc.freeze()``; the
        target freezes again once it is set up): it lives as long as the process, and scanning
        it in the collection at exit would cost every start, ``--about`` included."""
        gc.freeze()
        with self._reported(None):
            return super().main(*args, **kwargs)

    @override
    def invoke(self, ctx: click.Context) -> Any:
        """Run the target; inside click's ``main``, which would end a closed output pipe
        silently and Ctrl-C as "Aborted!"."""
        with self._reported(ctx):
            return super().invoke(ctx)

    @contextlib.contextmanager
    def _reported(self, ctx: click.Context | None) -> Generator[None]:
        try:
            yield
        except (*EXPECTED, BrokenPipeError, KeyboardInterrupt) as exc:
            if isinstance(exc, BrokenPipeError):
                # Python would meet the closed pipe again when it flushes stdout at exit.
                with contextlib.suppress(OSError, ValueError):
                    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            target = ctx.obj if ctx is not None else None
            if isinstance(target, TargetInfluxDB):
                paragraph, status = target.end_failed_run(exc)
            else:  # the target could not be made
                paragraph, status = errors.ending(TargetInfluxDB.name, exc, None, None, None)
            self.logger.error("%s", paragraph)
            sys.exit(status)
