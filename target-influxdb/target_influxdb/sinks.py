"""The stream sink: records → line protocol in batches, each handed to the target's pipeline.

Records become lines as they arrive (on the main thread, so an error names its input line).
``process_batch`` hands the batch to the pipeline (``durability.py``), which writes it in the
background, one write at a time, and emits a STATE only once every record before it was
acknowledged; a failed write ends the run non-zero with no STATE past the failure.

Collisions — two different records on the same measurement + tags + time, of which InfluxDB
would keep one — are found per batch (bounded memory: the batch's points only) and reported with
a hint. Not reported as collisions: repeats of a point (replays; written once), and two versions
of the same record (equal values of every key property), where the later one winning is the
upsert Singer means. Records whose key properties differ only as an empty and a null tag value
are different records on one point (both leave the tag out): a collision, reported as one.
"""

from __future__ import annotations

import datetime
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import jsonschema
from singer_sdk.exceptions import MissingKeyPropertiesError
from singer_sdk.sinks import BatchSink
from singer_sdk.sinks.core import BaseJSONSchemaValidator, JSONSchemaValidator

from target_influxdb.errors import StreamError, WriteError
from target_influxdb.mapping import LineBuilder, epoch, plan_stream

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if TYPE_CHECKING:
    from singer_sdk.helpers.conform import DatetimeErrorTreatmentEnum

    from target_influxdb.durability import Pipeline
    from target_influxdb.target import TargetInfluxDB
    from target_influxdb.writers import Writer


@dataclass
class StreamReport:
    """What a stream's sinks noticed during the run, reported at its end."""

    records_without_fields: int = 0
    collisions: int = 0
    repeats: int = 0
    updates: int = 0
    collision_warned: bool = False
    time_fallback_announced: bool = False


class _Batch:
    """One batch's lines, its record count, and the points seen in it (for collisions), kept
    off the SDK's batch context, which the SDK logs at DEBUG level for every record."""

    def __init__(self) -> None:
        self.records = 0
        self.direct = 0  # records that came through InfluxDBSink.add
        self.lines: list[str] = []
        # (series, time) → (fields, record) of the last record on that point
        self.seen: dict[tuple[str, int], tuple[str, dict]] = {}
        self.collisions = 0
        self.example: tuple[str, int] | None = None  # the first collision, for the warning

    def __repr__(self) -> str:
        return f"<batch of {len(self.lines)} points>"


class _SchemaValidator(JSONSchemaValidator):
    """The SDK's validator, raising a one-paragraph StreamError instead of logging a traceback."""

    def __init__(self, schema: dict, stream: str) -> None:
        super().__init__(schema)
        self.stream = stream

    @override
    def validate(self, record: dict) -> None:
        try:
            self.validator.validate(record)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(part) for part in exc.absolute_path) or "the record"
            raise StreamError(
                f"Stream '{self.stream}': a record does not match the stream's schema at {where}: "
                f"{exc.message}. Fix the tap's output or schema, or set `validate_records: false` "
                "to let this target check only what it writes (types of fields and the time)."
            ) from None


class InfluxDBSink(BatchSink):
    """Writes one stream's records as points of one measurement."""

    def __init__(
        self,
        target: TargetInfluxDB,
        stream_name: str,
        schema: dict,
        key_properties: list[str] | None,
    ) -> None:
        self._target = target
        super().__init__(target, stream_name, schema, key_properties)
        self._batch: _Batch | None = None
        self._pipeline: Pipeline | None = None
        # Planned here rather than in setup(), which the SDK wraps in an extra error log line.
        self._plan_points()

    def attach(self, pipeline: Pipeline) -> None:
        """Send batches through ``pipeline`` (the target attaches each new sink to its own)."""
        self._pipeline = pipeline

    @property
    @override
    def current_size(self) -> int:
        """Records in the open batch (also when they came through :meth:`add`)."""
        return self._batch.records if self._batch is not None else 0

    def add(self, record: dict) -> bool:
        """Take a record straight from the reader (no stream map, validation or metadata to
        apply: the SDK's per-record path would only copy it); True when the batch is full."""
        if not self._key_set <= record.keys():
            raise MissingKeyPropertiesError(
                f"Stream '{self.stream_name}': a record lacks key properties "
                f"{[k for k in self._key_tuple if k not in record]} (key properties: "
                f"{list(self._key_tuple)}). Fix the tap's output."
            )
        batch = self._take(record)
        batch.direct += 1
        return batch.records >= self._max_records

    @override
    def get_validator(self) -> BaseJSONSchemaValidator | None:
        if not self.validate_schema:
            return None
        return _SchemaValidator(self.schema, self.stream_name)

    def _plan_points(self) -> None:
        target = self._target
        config = self.config
        self.report = target.stream_reports.setdefault(self.stream_name, StreamReport())
        self.precision: str = config.get("precision") or "s"
        self.plan = plan_stream(
            self.stream_name,
            self.schema,
            self.key_properties,
            target.message_reader_bookmarks(self.stream_name),
            measurements=config.get("measurements") or {},
            tag_keys=config.get("tag_keys") or {},
            timestamp_key=config.get("timestamp_key") or {},
            write_metadata=bool(config.get("add_record_metadata")),
        )
        self.builder = LineBuilder(self.plan, self.precision)
        time_source = (
            f"'{self.plan.time_property}' ({self.plan.time_reason})"
            if self.plan.time_property
            else "the extraction time"
        )
        self.logger.info(
            "Stream '%s' → measurement '%s', tags %s, time from %s, %d fields.",
            self.stream_name,
            self.plan.measurement,
            list(self.plan.tags),
            time_source,
            len(self.plan.fields),
        )
        if self.plan.time_property is None and not self.report.time_fallback_announced:
            self.report.time_fallback_announced = True
            self.logger.warning(
                "Stream '%s' has %s: each point gets its record's extraction time (the RECORD "
                "message's time_extracted, else the start of this run). Set `timestamp_key` "
                "for this stream to use a property instead.",
                self.stream_name,
                self.plan.time_reason,
            )
        self._last_extracted: tuple[str | None, int] | None = None  # (time_extracted, epoch)
        self._extras_seen: set[str] = set()
        self._extras_reported = 0
        # Key properties that are neither a tag nor the time: two records on one point that
        # differ in these are different records, not two versions of one.
        self._key_tuple = tuple(self.key_properties)
        self._key_set = frozenset(self._key_tuple)
        self._has_time = self.plan.time_property is not None
        self._max_records = self.max_size

    @override
    def _parse_timestamps_in_record(
        self,
        record: dict,
        schema: dict,
        treatment: DatetimeErrorTreatmentEnum,
    ) -> None:
        """Leave date-time strings as the tap sent them.

        The SDK parses every date-time, date and time property of every record into Python
        objects (a sixth of the run time in a profile); this target only needs the time
        property's value, which :class:`LineBuilder` parses itself, and writes other date-time
        properties as the strings they are.
        """

    @override
    def process_record(self, record: dict, context: dict) -> None:
        self._take(record)

    def _take(self, record: dict) -> _Batch:
        """Add the record's point to the open batch (opening one if needed); return the batch."""
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
            if self._pipeline is not None:
                self._pipeline.open_batch(batch)
        batch.records += 1
        builder = self.builder
        fields = builder.fields(record)
        if builder.extra_properties and len(builder.extra_properties) > self._extras_reported:
            self._report_extra_properties()
        if not fields:
            self.report.records_without_fields += 1
            return batch
        series = builder.series(record)
        time = builder.time(record) if self._has_time else self._extraction_time()
        key = (series, time)
        previous = batch.seen.get(key)
        if previous is not None:
            if previous[0] == fields:
                self.report.repeats += 1
                return batch
            keys = self._key_tuple
            if keys and all(previous[1].get(k) == record.get(k) for k in keys):
                self.report.updates += 1
            else:
                self.report.collisions += 1
                batch.collisions += 1
                if batch.example is None:
                    batch.example = key
        batch.seen[key] = (fields, record)
        batch.lines.append(f"{series} {fields} {time}")
        return batch

    def _report_extra_properties(self) -> None:
        new = sorted(self.builder.extra_properties - self._extras_seen)
        self._extras_seen.update(new)
        self._extras_reported = len(self._extras_seen)
        self.logger.warning(
            "Stream '%s': properties %s are not in the stream's schema; they are written as "
            "string fields (a string as is, any other value as JSON text).",
            self.stream_name,
            new,
        )

    def _extraction_time(self) -> int:
        extracted = self._target.message_reader_time_extracted()
        last = self._last_extracted
        if last is not None and last[0] == extracted:
            return last[1]
        try:
            moment = (
                datetime.datetime.fromisoformat(extracted) if extracted else self._target.started_at
            )
        except ValueError:
            raise StreamError(
                f"Stream '{self.stream_name}': the RECORD message's time_extracted {extracted!r} "
                "is not an ISO 8601 date-time, and the stream has no time property to use instead "
                "(see `timestamp_key`)."
            ) from None
        self._last_extracted = (extracted, epoch(moment, self.precision))
        return self._last_extracted[1]

    @override
    def process_batch(self, context: dict) -> None:
        """Hand the open batch to the pipeline, which writes it in the background."""
        batch, self._batch = self._batch, None
        if batch is None:
            return
        if self._pipeline is None:
            raise RuntimeError("the sink was not attached to a pipeline")
        if batch.direct:  # the SDK's record-count metric counted the others one by one
            self.record_counter_metric.increment(batch.direct)
        if not batch.lines:
            self._pipeline.submit(batch, None)
            return
        body = "\n".join(batch.lines).encode()
        points = len(batch.lines)
        collisions = (batch.collisions, *batch.example) if batch.example is not None else None
        batch.lines = []
        batch.seen = {}

        def write(writer: Writer) -> None:
            try:
                writer.write(body, points)
            except WriteError as exc:
                raise WriteError(
                    f"Stream '{self.stream_name}', a batch of {points} points: {exc}"
                ) from None
            self.logger.debug("Stream '%s': wrote %d points.", self.stream_name, points)
            if collisions is not None:
                self._warn_collisions(*collisions)

        self._pipeline.submit(batch, write)

    def _warn_collisions(self, count: int, series: str, time: int) -> None:
        if self.report.collision_warned:
            self.logger.debug("Stream '%s': %d more colliding records.", self.stream_name, count)
            return
        self.report.collision_warned = True
        self.logger.warning(
            "Stream '%s': %d records in this batch have the same measurement + tags + time as "
            "another record with different values (e.g. %s at %s), so InfluxDB keeps only one "
            "point for each (the later values win). A tag whose value is empty or null is left "
            "out of the point, so records that differ only there share one. Give each record "
            "its own point: set "
            "`timestamp_key` for this stream to a property that tells them apart in time, or "
            "add the properties that tell them apart to `tag_keys`. (A total follows at the "
            "end of the run.)",
            self.stream_name,
            count,
            series,
            time,
        )


def report_streams(target: TargetInfluxDB) -> None:
    """Log what each stream's sinks noticed (records without fields, collisions, repeats)."""
    for stream, report in target.stream_reports.items():
        if report.records_without_fields:
            target.logger.warning(
                "Stream '%s': %d records had no field with a value and were not written "
                "(InfluxDB has no point without a field).",
                stream,
                report.records_without_fields,
            )
        if report.collisions:
            target.logger.warning(
                "Stream '%s': %d records in total landed on the same measurement + tags + time "
                "as another record with different values; see the hint above (`timestamp_key`, "
                "`tag_keys`).",
                stream,
                report.collisions,
            )
        if report.repeats:
            target.logger.info(
                "Stream '%s': %d records had the same point (measurement, tags, time and fields) "
                "as an earlier record of their batch and were written once.",
                stream,
                report.repeats,
            )
        if report.updates:
            target.logger.info(
                "Stream '%s': %d records updated an earlier record with the same key "
                "properties in their batch (the later values win).",
                stream,
                report.updates,
            )
