"""Records → InfluxDB points, as line protocol. Pure: no I/O, no logging.

A stream's :class:`StreamPlan` says which property is the time, which are tags and how each other
property is written as a field, decided once from the SCHEMA message and the settings. A
:class:`LineBuilder` then turns each record into a line with the escaping of
``influxdb-client``'s own serializer: the output is byte for byte what
``Point(...).tag(...).field(...).time(...).to_line_protocol()`` gives for the same values (a test
pins that), without building a ``Point`` per record, which is the most expensive part of it.

Field types come from the schema, never from the value:

- ``number``, alone or in a union with ``integer`` and ``null`` (also as ``anyOf``/``oneOf``):
  float, even when the JSON value is ``0``;
- ``integer``: integer (``1i``); ``boolean``: boolean;
- ``string`` (also ``date-time``/``date``/``time`` formats, written in ISO 8601): string;
- ``object``/``array``: JSON text in a string field;
- no type, or a union of types one InfluxDB field cannot hold (e.g. string and integer): a string
  field holding a string value as is and any other value as JSON text.

Values are mostly as the tap sent them (date-times stay strings: see ``compat.SinkHooks``), but
a stream map can make Python ``date``, ``time`` and ``datetime`` objects (an expression such as
``datetime.datetime.fromisoformat(timestamp)``): they are written in ISO 8601, and a time
property's ``datetime`` is the point time.
"""

from __future__ import annotations

import datetime
import enum
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from singer_sdk.singerlib.json import serialize_json

from target_influxdb.errors import StreamError, capped

_MICROSECONDS_PER_UNIT = {"s": 1_000_000, "ms": 1_000, "us": 1}
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
_INT64 = (-(2**63), 2**63 - 1)
_SERIES_CACHE_SIZE = 10_000
_FIELD_CACHE_SIZE = 4_096  # texts kept per field (LineBuilder.fields)
_CACHED_STRING_LENGTH = 64  # longer string values are quoted each time, never kept
SDC_PREFIX = "_sdc_"
#: The SDK's record metadata for a record that is gone: non-null, the record deletes its point
#: (docs/design.md#deleted-records).
DELETED_AT = "_sdc_deleted_at"

#: Tag and field keys InfluxDB keeps for itself: 1.x drops a field named ``time`` (and refuses
#: the point when it is its only field) and refuses such a tag; 2.x and 3.x use ``_field`` and
#: ``_measurement`` for the point's own parts. Refused before the first write
#: (docs/design.md#target-influxdb-settings-and-mapping).
RESERVED = frozenset({"time", "_field", "_measurement"})
#: InfluxDB's time range (int64 nanoseconds, both ends less one or two), in each precision.
TIME_RANGE = ("1677-09-21T00:12:43.145224194Z", "2262-04-11T23:47:16.854775806Z")
NANOSECONDS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}  # in one unit of each precision
_TIME_BOUNDS = {
    precision: (-(-(-(2**63) + 2) // unit), (2**63 - 2) // unit)
    for precision, unit in NANOSECONDS.items()
}
#: InfluxDB's longest series key plus field key (1.x and 2.x: the series key, ``#!~#`` and the
#: field key, in bytes).
MAX_KEY_BYTES = 65_535
_KEY_SEPARATOR_BYTES = 4

# What line protocol cannot carry in a measurement, tag key, tag value or field key, checked
# against a real InfluxDB 1.x: a backslash at the end or before a character that needs escaping
# (the server drops or misreads it), and tabs or line breaks (the client writes them as the two
# characters "\t", "\n", "\r", so the stored name would differ from the property's).
_UNREPRESENTABLE = re.compile(r'[\t\n\r]|\\(?:[,= "\\]|$)')

# Line protocol escaping, as influxdb_client.client.write.point does it (a test compares).
_ESCAPE_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_ESCAPE_KEY = str.maketrans(
    {",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"}
)
_ESCAPE_STRING = str.maketrans({'"': r"\"", "\\": r"\\"})


def shown(value: Any) -> str:
    """A value as a message shows it: its repr, cut to its first 200 characters."""
    return capped(repr(value))


def _escape_key(name: str, table: dict[int, str] = _ESCAPE_KEY) -> str:
    return name.translate(table)


def _escape_tag_value(value: str) -> str:
    escaped = value.translate(_ESCAPE_KEY)
    return escaped + " " if escaped.endswith("\\") else escaped


class Kind(str, enum.Enum):
    """How a property's values are written as a field."""

    FLOAT = "float"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    STRING = "string"
    JSON = "JSON text"
    UNTYPED = "string (untyped)"


#: Kinds written as string fields (which VictoriaMetrics, keeping numbers only, cannot store).
TEXT_KINDS = frozenset({Kind.STRING, Kind.JSON, Kind.UNTYPED})


class _Mismatch(Exception):
    """A value does not fit its property's declared type (turned into a StreamError)."""


def schema_types(schema: Mapping[str, Any]) -> set[str]:
    """The JSON types a property schema allows, ``null`` left out, unions flattened."""
    types: set[str] = set()
    declared = schema.get("type")
    if isinstance(declared, str):
        types.add(declared)
    elif isinstance(declared, list):
        types.update(t for t in declared if isinstance(t, str))
    for union in ("anyOf", "oneOf"):
        for option in schema.get(union) or ():
            if isinstance(option, Mapping):
                types |= schema_types(option)
    types.discard("null")
    return types


def is_datetime(schema: Mapping[str, Any]) -> bool:
    """Whether a property holds date-time strings (also inside ``anyOf``/``oneOf``)."""
    if schema.get("format") == "date-time":
        return True
    return any(
        isinstance(option, Mapping) and is_datetime(option)
        for union in ("anyOf", "oneOf")
        for option in schema.get(union) or ()
    )


def kind_of(schema: Mapping[str, Any]) -> Kind:
    """The field kind of a property, from its schema alone."""
    types = schema_types(schema)
    if not types:
        if "properties" in schema or "items" in schema:
            return Kind.JSON
        return Kind.UNTYPED
    if "number" in types and types <= {"number", "integer"}:
        return Kind.FLOAT
    if types == {"integer"}:
        return Kind.INTEGER
    if types == {"boolean"}:
        return Kind.BOOLEAN
    if types == {"string"}:
        return Kind.STRING
    if types <= {"object", "array"}:
        return Kind.JSON
    return Kind.UNTYPED


def _json_text(value: Any) -> str:
    return serialize_json(value, ensure_ascii=False)


def _keep(texts: dict[Any, str], value: Any, text: str) -> None:
    """Keep a field's text of ``value``, starting anew when the cache is full."""
    if len(texts) >= _FIELD_CACHE_SIZE:
        texts.clear()
    texts[value] = text


def _quoted(text: str) -> str:
    if '"' in text or "\\" in text:  # (translate costs a microsecond even with nothing to do)
        text = text.translate(_ESCAPE_STRING)
    return f'"{text}"'


def _float_value(value: Any) -> str | None:
    kind = type(value)
    if kind is not float and kind is not Decimal and kind is not int:
        raise _Mismatch
    number = float(value)
    if not math.isfinite(number):
        return None  # what the client's Point does with NaN and infinities
    text = str(number)
    return text[:-2] if text.endswith(".0") else text


def _integer_value(value: Any) -> str:
    if type(value) is not int:
        if type(value) not in (Decimal, float) or value != int(value):
            raise _Mismatch
        value = int(value)
    if not _INT64[0] <= value <= _INT64[1]:
        raise _Mismatch
    return f"{value}i"


def _boolean_value(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    raise _Mismatch


def _string_value(value: Any) -> str:
    if type(value) is str:
        return _quoted(value)
    if isinstance(value, (datetime.date, datetime.time)):  # made by a stream map
        return _quoted(value.isoformat())
    raise _Mismatch


def _json_value(value: Any) -> str:
    if not isinstance(value, (dict, list)):
        raise _Mismatch
    return _quoted(_json_text(value))


def _untyped_value(value: Any) -> str:
    if type(value) is str:
        return _quoted(value)
    if isinstance(value, (datetime.date, datetime.time)):
        return _quoted(value.isoformat())
    return _quoted(_json_text(value))


_FLOAT = Kind.FLOAT
_STRING = Kind.STRING
_FIELD_WRITERS: dict[Kind, Callable[[Any], str | None]] = {
    Kind.FLOAT: _float_value,
    Kind.INTEGER: _integer_value,
    Kind.BOOLEAN: _boolean_value,
    Kind.STRING: _string_value,
    Kind.JSON: _json_value,
    Kind.UNTYPED: _untyped_value,
}


def tag_text(value: Any) -> str:
    """A tag value as text (before escaping): strings as is, other values as in JSON."""
    if type(value) is str:
        return value
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        text = str(value)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return _json_text(value)


def check_name(what: str, name: str, stream: str) -> None:
    """Raise when line protocol cannot carry ``name`` as a measurement, tag key or field key."""
    if not name:
        raise StreamError(f"Stream '{stream}': an empty {what} cannot be written to InfluxDB.")
    if _UNREPRESENTABLE.search(name) or (what == "measurement" and name.startswith("#")):
        raise StreamError(
            f"Stream '{stream}': {what} {name!r} cannot be written in InfluxDB line protocol "
            "unchanged (a backslash at its end or before a comma, equals sign, space, quote or "
            "backslash, a tab or a line break, or a measurement starting with '#'). Rename it "
            "with a stream map (the `stream_maps` setting) or the `measurements` setting."
        )


def check_reserved(what: str, name: str, stream: str) -> None:
    """Raise when ``name`` would be a tag or field key InfluxDB reserves (:data:`RESERVED`)."""
    if name not in RESERVED:
        return
    remedy = (
        "leave it out of the tags with `tag_keys` for this stream, or rename it with a stream "
        f'map (`stream_maps`: {{"{stream}": {{"{name}_": "{name}", "{name}": null}}}})'
        if what == "tag key"
        else f'rename it with a stream map (`stream_maps`: {{"{stream}": {{"{name}_": "{name}", '
        f'"{name}": null}}}}), or drop it the same way; if it holds the point time, name it in '
        "`timestamp_key` for this stream instead"
    )
    raise StreamError(
        f"Stream '{stream}': property '{name}' would be the {what} '{name}', which InfluxDB "
        "reserves (1.x drops a field named `time` without a word, or refuses the point when it "
        "is its only field, and refuses such a tag; 2.x and 3.x keep `_field` and "
        "`_measurement` for the point's own parts), so the stream is refused before anything "
        f"is written. To load it, {remedy}."
    )


def epoch(moment: datetime.datetime, precision: str) -> int:
    """A point time in whole ``precision`` units since the epoch; a naive time is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    delta = moment - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if precision == "ns":
        return micros * 1_000
    return int(micros / _MICROSECONDS_PER_UNIT[precision])  # toward zero, as the client does


class DeletedPoint(NamedTuple):
    """A point to delete: its measurement, every tag of the stream's plan with its text (empty
    when the record has none, as the written point leaves it out), and its time in
    ``precision`` units."""

    measurement: str
    tags: tuple[tuple[str, str], ...]
    time: int


@dataclass(frozen=True)
class FieldSpec:
    """One property written as a field."""

    prop: str
    kind: Kind


@dataclass(frozen=True)
class StreamPlan:
    """How one stream's records become points."""

    stream: str
    measurement: str
    tags: tuple[str, ...]
    time_property: str | None
    time_reason: str
    fields: tuple[FieldSpec, ...]
    write_metadata: bool
    key_properties: tuple[str, ...] = ()  # for messages naming a record


def plan_stream(
    stream: str,
    schema: Mapping[str, Any],
    key_properties: Sequence[str],
    bookmark_properties: Sequence[str],
    *,
    measurements: Mapping[str, str],
    tag_keys: Mapping[str, Sequence[str]],
    timestamp_key: Mapping[str, str],
    write_metadata: bool,
) -> StreamPlan:
    """Decide a stream's measurement, time property, tags and field kinds (see
    docs/design.md#target-influxdb-settings-and-mapping)."""
    properties: Mapping[str, Any] = schema.get("properties") or {}
    measurement = measurements.get(stream) or stream
    check_name("measurement", measurement, stream)

    time_property, reason = _time_property(
        stream, properties, key_properties, bookmark_properties, timestamp_key
    )

    if stream in tag_keys:
        tags = tuple(tag_keys[stream])
        unknown = [tag for tag in tags if tag not in properties]
        if unknown:
            raise StreamError(
                f"Stream '{stream}': `tag_keys` names {unknown}, which the stream's schema does "
                f"not have (its properties: {sorted(properties)})."
            )
        if time_property in tags:
            raise StreamError(
                f"Stream '{stream}': property '{time_property}' is both the time and a tag in "
                "`tag_keys`; leave it out of `tag_keys`."
            )
    else:
        tags = tuple(key for key in key_properties if key != time_property)
    for tag in tags:
        check_name("tag key", tag, stream)
        check_reserved("tag key", tag, stream)

    fields = []
    for prop, prop_schema in properties.items():
        if prop in tags or prop == time_property:
            continue
        if prop.startswith(SDC_PREFIX) and not write_metadata:
            continue
        check_name("field key", prop, stream)
        check_reserved("field key", prop, stream)
        fields.append(
            FieldSpec(prop, kind_of(prop_schema if isinstance(prop_schema, Mapping) else {}))
        )
    return StreamPlan(
        stream,
        measurement,
        tags,
        time_property,
        reason,
        tuple(fields),
        write_metadata,
        tuple(key_properties),
    )


def _time_property(
    stream: str,
    properties: Mapping[str, Any],
    key_properties: Sequence[str],
    bookmark_properties: Sequence[str],
    timestamp_key: Mapping[str, str],
) -> tuple[str | None, str]:
    if stream in timestamp_key:
        configured = timestamp_key[stream]
        if configured not in properties:
            raise StreamError(
                f"Stream '{stream}': `timestamp_key` names '{configured}', which the stream's "
                f"schema does not have (its properties: {sorted(properties)})."
            )
        return configured, "the `timestamp_key` setting"
    for key in key_properties:
        if is_datetime(properties.get(key) or {}):
            return key, "the stream's date-time key property"
    for key in bookmark_properties:
        if is_datetime(properties.get(key) or {}):
            return key, "the stream's date-time replication key"
    return None, "no date-time key property or replication key"


class LineBuilder:
    """Turns one stream's records into line protocol, per its plan."""

    def __init__(self, plan: StreamPlan, precision: str) -> None:
        self.plan = plan
        self.precision = precision
        self._measurement = _escape_key(plan.measurement, _ESCAPE_MEASUREMENT)
        # The client's Point sorts tags and fields by key; so do we, once per stream.
        self._tags = tuple((tag, _escape_key(tag)) for tag in sorted(plan.tags))
        # (property, "key=", writer, kind, the field's texts of values seen: see fields())
        self._fields = tuple(
            (spec.prop, f"{_escape_key(spec.prop)}=", _FIELD_WRITERS[spec.kind], spec.kind, {})
            for spec in sorted(plan.fields, key=lambda spec: spec.prop)
        )
        self._known = frozenset([*plan.tags, *(spec.prop for spec in plan.fields)])
        if plan.time_property is not None:
            self._known |= {plan.time_property}
        self.extra_properties: set[str] = set()  # seen in records, not in the schema
        self._tag_names = tuple(tag for tag, _ in self._tags)
        # Tag values repeat (a metering point, a host): the escaped series text of string tag
        # values is cached (equal strings always mean equal text, where 1 == 1.0 == True would
        # not), keyed by the value of a single tag or the tuple of several.
        self._series_cache: dict[Any, str] = {}
        self._time_property = plan.time_property or ""
        self._last_time: tuple[Any, int] = ("", 0)  # the last time text and its epoch
        self._seconds = precision == "s"
        self._earliest, self._latest = _TIME_BOUNDS[precision]
        # The longest field key with its separator: a series key may take the rest.
        self._key_room = (
            MAX_KEY_BYTES
            - _KEY_SEPARATOR_BYTES
            - max((len(head.encode()) - 1 for _, head, _, _, _ in self._fields), default=0)
        )

    def series(self, record: Mapping[str, Any]) -> str:
        """Measurement and tags of the record's point, escaped (empty tag values left out)."""
        names = self._tag_names
        if len(names) == 1:
            key = record.get(names[0])
            if type(key) is str:
                try:
                    return self._series_cache[key]
                except KeyError:
                    return self._cache_series(key, (key,))
            return self._series((key,))
        values = tuple(map(record.get, names))
        try:
            return self._series_cache[values]
        except KeyError:
            if all(type(value) is str for value in values):
                return self._cache_series(values, values)
        except TypeError:  # an unhashable value, where the schema said string
            pass
        return self._series(values)

    def _cache_series(self, key: Any, values: tuple[Any, ...]) -> str:
        if len(self._series_cache) >= _SERIES_CACHE_SIZE:
            self._series_cache.clear()
        series = self._series_cache[key] = self._series(values)
        return series

    def _series(self, values: tuple[Any, ...]) -> str:
        parts = [self._measurement]
        for (tag, key), value in zip(self._tags, values, strict=True):
            if value is None:
                continue
            text = tag_text(value)
            if not text:
                continue
            if _UNREPRESENTABLE.search(text):
                raise StreamError(
                    f"Stream '{self.plan.stream}': tag '{tag}' has the value {shown(text)}, which "
                    "InfluxDB line protocol cannot carry unchanged in a tag (a backslash at its "
                    "end or before a comma, equals sign, space, quote or backslash, a tab or a "
                    "line break). Leave the property out of `tag_keys` so it becomes a string "
                    "field, or change it with a stream map."
                )
            parts.append(f",{key}={_escape_tag_value(text)}")
        series = "".join(parts)
        if len(series) * 4 > self._key_room and len(series.encode()) > self._key_room:
            raise self._too_long(series, values)
        return series

    def _too_long(self, series: str, values: tuple[Any, ...]) -> StreamError:
        sizes = {
            tag: len(tag_text(value).encode())
            for tag, value in zip(self._tag_names, values, strict=True)
            if value is not None
        }
        longest = max(sizes, key=sizes.__getitem__, default=None)
        remedy = (
            f"Its longest tag is '{longest}' ({sizes[longest]:,} bytes): a value this long "
            "belongs in a field, not a tag. Leave the property out of `tag_keys` for this "
            "stream (it becomes a string field), or shorten it with a stream map."
            if longest is not None
            else "Shorten the measurement name (`measurements`)."
        )
        return StreamError(
            f"Stream '{self.plan.stream}': the series key (measurement and tags) "
            f"{shown(series)} is {len(series.encode()):,} bytes, and with a field key it would be "
            f"longer than the {MAX_KEY_BYTES:,} bytes InfluxDB allows, so the record is refused "
            f"before anything of its batch is written. {remedy}"
        )

    def deleted_point(self, record: Mapping[str, Any], time: int) -> DeletedPoint:
        """The point ``record`` names (after :meth:`series` checked its tags), to delete."""
        tags = []
        for tag in self._tag_names:
            value = record.get(tag)
            tags.append((tag, "" if value is None else tag_text(value)))
        return DeletedPoint(self.plan.measurement, tuple(tags), time)

    def fields(self, record: Mapping[str, Any]) -> str:
        """The record's field set, escaped and sorted by key; empty when it has no fields.

        The two commonest cases, a float and a short string, give the same text as their
        writers, and it is kept per field (up to ``_FIELD_CACHE_SIZE`` values): measured values
        repeat (a meter's kWh with three decimals, a resolution), and ``repr`` of a float is the
        costliest step of a line. 0.0 and -0.0 are equal keys with different texts, so zero is
        never kept.
        """
        parts = []
        get = record.get
        for prop, head, write, kind, texts in self._fields:
            value = get(prop)
            if value is None:
                continue
            if kind is _FLOAT and type(value) is float:
                piece = texts.get(value) if value else None
                if piece is None:
                    if value - value != 0.0:  # NaN and infinities are left out
                        continue
                    text = repr(value)
                    piece = head + text[:-2] if text.endswith(".0") else head + text
                    if value:
                        _keep(texts, value, piece)
                parts.append(piece)
                continue
            if kind is _STRING and type(value) is str:
                piece = texts.get(value)
                if piece is None:
                    piece = head + _quoted(value)
                    if len(value) <= _CACHED_STRING_LENGTH:
                        _keep(texts, value, piece)
                parts.append(piece)
                continue
            try:
                text = write(value)
            except (_Mismatch, ValueError, OverflowError):
                raise self._mismatch(prop, value, kind) from None
            if text is not None:
                parts.append(head + text)
        if not self._known.issuperset(record):
            return self._with_extra_fields(record, parts)
        return ",".join(parts)

    def _with_extra_fields(self, record: Mapping[str, Any], parts: list[str]) -> str:
        """Properties the schema does not declare are untyped: string fields, after the others."""
        for prop in sorted(record.keys() - self._known):
            value = record[prop]
            if value is None or (prop.startswith(SDC_PREFIX) and not self.plan.write_metadata):
                continue
            if prop not in self.extra_properties:
                check_name("field key", prop, self.plan.stream)
                check_reserved("field key", prop, self.plan.stream)
                self.extra_properties.add(prop)
            parts.append(f"{_escape_key(prop)}={_untyped_value(value)}")
        return ",".join(parts)

    def time(self, record: Mapping[str, Any]) -> int:
        """The point time from the record's time property, in ``precision`` units."""
        prop = self._time_property
        if not prop:
            raise RuntimeError("time() needs a time property; use a fallback time instead")
        value = record.get(prop)
        if type(value) is str:
            last = self._last_time  # records of many series often share a time
            if value == last[0]:
                return last[1]
            try:
                moment = datetime.datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                if self._seconds and moment.tzinfo is not None:
                    # the same as epoch(moment, "s"): int(microseconds / 10**6), in C
                    result = int(moment.timestamp())
                else:
                    result = epoch(moment, self.precision)
                self.check_time(result, value, record)
                self._last_time = (value, result)
                return result
        elif isinstance(value, datetime.datetime):
            return self.check_time(epoch(value, self.precision), value, record)
        elif type(value) is int:
            return self.check_time(value, value, record)
        if value is None:
            raise StreamError(
                f"Stream '{self.plan.stream}': a record has no value for its time property "
                f"'{prop}' ({self.plan.time_reason}), so it has no place in time. Fix the tap's "
                "output, or set `timestamp_key` for this stream to a property that always has one."
            )
        raise StreamError(
            f"Stream '{self.plan.stream}': time property '{prop}' has the value {shown(value)}, "
            "which is neither an ISO 8601 date-time nor an integer epoch time in `precision` units."
        )

    def check_time(self, result: int, value: Any, record: Mapping[str, Any] | None) -> int:
        """``result`` (a point time), or an error when InfluxDB cannot store it."""
        if self._earliest <= result <= self._latest:
            return result
        where = (
            f"its time property '{self._time_property}' ({self.plan.time_reason})"
            if self._time_property
            else "its extraction time (the stream has no time property)"
        )
        raise StreamError(
            f"Stream '{self.plan.stream}': the record {self.key_of(record)}has the time "
            f"{shown(value)} in {where}, outside the times InfluxDB can store "
            f"({TIME_RANGE[0]} to {TIME_RANGE[1]}; `precision` is {self.precision}), so it is "
            "refused before anything of its batch is written. Fix the tap's output, or set "
            "`timestamp_key` for this stream to a property that holds the point time."
        )

    def key_of(self, record: Mapping[str, Any] | None) -> str:
        """The record's key properties as a message names the record (with a trailing space)."""
        keys = self.plan.key_properties
        if not keys or record is None:
            return ""
        return "with " + ", ".join(f"{key}={shown(record.get(key))}" for key in keys) + " "

    def _mismatch(self, prop: str, value: Any, kind: Kind) -> StreamError:
        return StreamError(
            f"Stream '{self.plan.stream}': property '{prop}' has the value {shown(value)} "
            f"({type(value).__name__}), which does not fit its schema type ({kind.value} field "
            "in InfluxDB). The run stops before writing the current batch, so no STATE covers this "
            "record. Fix the tap's output or its schema (or map the property with a stream map)."
        )
