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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import jsonschema
from singer_sdk.exceptions import MissingKeyPropertiesError
from singer_sdk.sinks.core import BaseJSONSchemaValidator, JSONSchemaValidator
from typing_extensions import override

from target_influxdb.compat import SinkHooks
from target_influxdb.errors import StreamError, WriteError
from target_influxdb.mapping import DeletedPoint, LineBuilder, StreamPlan, epoch, shown

if TYPE_CHECKING:
    import logging

    from target_influxdb.durability import Arrival, Pipeline
    from target_influxdb.writers import Writer


@dataclass
class StreamReport:
    """What a stream's sinks noticed during the run, reported at its end."""

    records_without_fields: int = 0
    collisions: int = 0
    repeats: int = 0
    updates: int = 0
    deleted: int = 0  # records whose point was deleted (`_sdc_deleted_at`)
    not_deleted: int = 0  # ... on a server that cannot delete a point
    collision_warned: bool = False
    time_fallback_announced: bool = False
    victoria_metrics_warned: bool = False
    #: The plan the stream's first records were taken with: a new SCHEMA must keep its points'
    #: tags and time (see TargetInfluxDB.on_schema).
    taken_with: StreamPlan | None = None


@dataclass(frozen=True)
class StreamRun:
    """What a stream's sink needs from the run; the target makes one for each new sink."""

    plan: StreamPlan
    precision: str
    batch_size: int  # records per batch (`batch_size_rows`)
    pipeline: Pipeline  # where full batches go
    report: StreamReport  # shared by the stream's sinks, reported at the end of the run
    started_at: datetime.datetime  # the point time of records with no time_extracted
    deletes: bool = True  # the server can delete a point (VictoriaMetrics cannot)


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
        # (series, time) → the point a record marked deleted names, deleted before the lines
        self.deletes: dict[tuple[str, int], DeletedPoint] = {}

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


class InfluxDBSink(SinkHooks):
    """Writes one stream's records as points of one measurement, once :meth:`attach` gave it
    its :class:`StreamRun`."""

    #: What the sink needs from the run (None until attached).
    run: StreamRun | None = None
    _batch: _Batch | None = None

    def attach(self, run: StreamRun) -> None:
        """Take the stream's plan, the pipeline and the report; say how points are made."""
        self.run = run
        plan = run.plan
        self.builder = LineBuilder(plan, run.precision)
        self.report = run.report
        self._pipeline = run.pipeline
        self._arrivals = run.pipeline.arrivals  # each record's number and time_extracted
        self._batch_size = run.batch_size
        self._has_time = plan.time_property is not None
        # Key properties that are neither a tag nor the time: two records on one point that
        # differ in these are different records, not two versions of one.
        self._key_tuple = tuple(self.key_properties)
        self._key_set = frozenset(self._key_tuple)
        self._last_extracted: tuple[str | None, int] | None = None  # (time_extracted, epoch)
        self._extras_seen: set[str] = set()
        self._extras_reported = 0
        time_source = "the extraction time"
        if self._has_time:
            time_source = f"'{plan.time_property}' ({plan.time_reason})"
        self.logger.info(
            "Stream '%s' → measurement '%s', tags %s, time from %s, %d fields.",
            self.stream_name,
            plan.measurement,
            list(plan.tags),
            time_source,
            len(plan.fields),
        )
        if not self._has_time and not self.report.time_fallback_announced:
            self.report.time_fallback_announced = True
            self.logger.warning(
                "Stream '%s' has %s: each point gets its record's extraction time (the RECORD "
                "message's time_extracted, else the start of this run). Set `timestamp_key` "
                "for this stream to use a property instead.",
                self.stream_name,
                plan.time_reason,
            )

    @property
    @override
    def max_size(self) -> int:
        """Records per batch: `batch_size_rows` (its default when null)."""
        return self.run.batch_size if self.run is not None else super().max_size

    @property
    @override
    def current_size(self) -> int:
        """Records in the open batch (also when they came through :meth:`add`)."""
        return self._batch.records if self._batch is not None else 0

    def add(self, record: dict) -> bool:
        """Take a record straight from its message (no stream map, validation or metadata to
        apply: the SDK's per-record path would only copy it); True when the batch is full."""
        if not self._key_set <= record.keys():
            raise MissingKeyPropertiesError(
                f"Stream '{self.stream_name}': a record lacks key properties "
                f"{[k for k in self._key_tuple if k not in record]} (key properties: "
                f"{list(self._key_tuple)}). Fix the tap's output."
            )
        batch = self._take(record)
        batch.direct += 1
        return batch.records >= self._batch_size

    @override
    def get_validator(self) -> BaseJSONSchemaValidator | None:
        if not self.validate_schema:
            return None
        return _SchemaValidator(self.schema, self.stream_name)

    @override
    def process_record(self, record: dict, context: dict) -> None:
        self._take(record)

    def _take(self, record: dict) -> _Batch:
        """Add the record's point to the open batch (opening one if needed); return the batch.
        Both routes come here; the record's number and ``time_extracted`` are its arrival's."""
        arrival = self._arrivals.current()
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch()
            self._pipeline.open_batch(batch)
            if self.report.taken_with is None:
                self.report.taken_with = self.builder.plan
        batch.records += 1
        if arrival.deleted:
            self._delete(batch, record, arrival)
            return batch
        builder = self.builder
        fields = builder.fields(record)
        if builder.extra_properties and len(builder.extra_properties) > self._extras_reported:
            self._report_extra_properties()
        if not fields:
            self.report.records_without_fields += 1
            return batch
        series = builder.series(record)
        time = builder.time(record) if self._has_time else self._point_time(record, arrival)
        key = (series, time)
        seen = batch.seen
        previous = seen.get(key)
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
        seen[key] = (fields, record)
        batch.lines.append(f"{series} {fields} {time}")
        return batch

    def _point_time(self, record: dict, arrival: Arrival) -> int:
        if self._has_time:
            return self.builder.time(record)
        return self._extraction_time(arrival.time_extracted)

    def _delete(self, batch: _Batch, record: dict, arrival: Arrival) -> None:
        """A record marked deleted: the point a write of it would make (measurement, tags,
        time) is deleted instead; within the batch the later record of a point wins, so an
        earlier line of that point is dropped, and the batch's deletes go before its lines
        (README, "Deleted records")."""
        series = self.builder.series(record)
        time = self._point_time(record, arrival)
        key = (series, time)
        if batch.seen.pop(key, None) is not None:
            head, tail = series + " ", f" {time}"
            batch.lines = [
                line for line in batch.lines if not (line.startswith(head) and line.endswith(tail))
            ]
        assert self.run is not None  # (attached: _take ran)
        if self.run.deletes:
            batch.deletes[key] = self.builder.deleted_point(record, time)
            self.report.deleted += 1
        else:
            self.report.not_deleted += 1

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

    def _extraction_time(self, extracted: str | None) -> int:
        last = self._last_extracted
        if last is not None and last[0] == extracted:
            return last[1]
        run = self.run
        assert run is not None  # (attached: _take ran)
        try:
            moment = datetime.datetime.fromisoformat(extracted) if extracted else run.started_at
        except ValueError:
            raise StreamError(
                f"Stream '{self.stream_name}': the RECORD message's time_extracted "
                f"{shown(extracted)} "
                "is not an ISO 8601 date-time, and the stream has no time property to use instead "
                "(see `timestamp_key`)."
            ) from None
        point_time = self.builder.check_time(epoch(moment, run.precision), extracted, None)
        self._last_extracted = (extracted, point_time)
        return self._last_extracted[1]

    @override
    def process_batch(self, context: dict) -> None:
        """Hand the open batch to the pipeline, which writes it in the background."""
        batch, self._batch = self._batch, None
        if batch is None:
            return
        if batch.direct:  # the SDK's record-count metric counted the others one by one
            self.record_counter_metric.increment(batch.direct)
        deletes = list(batch.deletes.values())
        if not batch.lines and not deletes:
            self._pipeline.submit(batch, None)
            return
        try:
            body = "\n".join(batch.lines).encode()
        except UnicodeEncodeError:  # a lone surrogate a stream map made (input has none)
            raise StreamError(
                f"Stream '{self.stream_name}': a value of this batch holds half of a UTF-16 "
                "surrogate pair, which is not Unicode text and cannot be written: check the "
                "stream maps' expressions."
            ) from None
        points = len(batch.lines)
        collisions = (batch.collisions, *batch.example) if batch.example is not None else None
        batch.lines = []
        batch.seen = {}
        batch.deletes = {}
        what = f"a batch of {points} points" + (
            f" and {len(deletes)} deleted points" if deletes else ""
        )

        def write(writer: Writer) -> None:
            try:
                if deletes:  # first: a record after a delete of its point writes it again
                    writer.delete(deletes)
                if points:
                    writer.write(body, points)
            except WriteError as exc:
                raise WriteError(f"Stream '{self.stream_name}', {what}: {exc}") from None
            self.logger.debug("Stream '%s': stored %s.", self.stream_name, what)
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


def report_streams(reports: Mapping[str, StreamReport], logger: logging.Logger) -> None:
    """Log what each stream's sinks noticed (records without fields, collisions, repeats)."""
    for stream, report in reports.items():
        if report.records_without_fields:
            logger.warning(
                "Stream '%s': %d records had no field with a value and were not written "
                "(InfluxDB has no point without a field).",
                stream,
                report.records_without_fields,
            )
        if report.collisions:
            logger.warning(
                "Stream '%s': %d records in total landed on the same measurement + tags + time "
                "as another record with different values; see the hint above (`timestamp_key`, "
                "`tag_keys`).",
                stream,
                report.collisions,
            )
        if report.deleted:
            logger.info(
                "Stream '%s': %d records marked deleted (`_sdc_deleted_at`) deleted the points "
                "they name.",
                stream,
                report.deleted,
            )
        if report.not_deleted:
            logger.warning(
                "Stream '%s': %d records marked deleted (`_sdc_deleted_at`) name points that "
                "were not deleted: VictoriaMetrics cannot delete a single point, so those points "
                "keep the values written before (a value the tap withdrew stays in every sum). "
                "Delete them by hand (VictoriaMetrics deletes whole series: "
                "/api/v1/admin/tsdb/delete_series), or load into InfluxDB.",
                stream,
                report.not_deleted,
            )
        if report.repeats:
            logger.info(
                "Stream '%s': %d records had the same point (measurement, tags, time and fields) "
                "as an earlier record of their batch and were written once.",
                stream,
                report.repeats,
            )
        if report.updates:
            logger.info(
                "Stream '%s': %d records updated an earlier record with the same key "
                "properties in their batch (the later values win).",
                stream,
                report.updates,
            )
