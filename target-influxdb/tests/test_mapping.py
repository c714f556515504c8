"""The pure mapping: schema → field kinds, and lines identical to influxdb-client's serializer.

These are the only tests that do not read back from a server: they pin that the fast line
builder writes exactly what ``Point.to_line_protocol()`` writes for the same values, so every
server test of the target's output is also a test of the client's serializer.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from influxdb_client import Point
from singer_sdk.singerlib.json import serialize_json
from target_influxdb.errors import StreamError
from target_influxdb.mapping import Kind, LineBuilder, epoch, kind_of, plan_stream, tag_text

UTC = datetime.timezone.utc


@pytest.mark.parametrize(
    ("schema", "kind"),
    [
        ({"type": "number"}, Kind.FLOAT),
        ({"type": ["integer", "null", "number"]}, Kind.FLOAT),
        ({"anyOf": [{"type": "integer"}, {"type": ["number", "null"]}]}, Kind.FLOAT),
        ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, Kind.FLOAT),
        ({"type": ["null", "integer"]}, Kind.INTEGER),
        ({"type": "boolean"}, Kind.BOOLEAN),
        ({"type": "string"}, Kind.STRING),
        ({"type": "string", "format": "date-time"}, Kind.STRING),
        ({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}, Kind.STRING),
        ({"type": "object", "properties": {}}, Kind.JSON),
        ({"type": ["array", "null"], "items": {"type": "string"}}, Kind.JSON),
        ({"properties": {"a": {"type": "integer"}}}, Kind.JSON),
        ({}, Kind.UNTYPED),
        ({"type": ["string", "integer"]}, Kind.UNTYPED),
        ({"anyOf": [{"type": "boolean"}, {"type": "number"}]}, Kind.UNTYPED),
    ],
)
def test_field_kind_comes_from_the_schema_alone(schema, kind):
    assert kind_of(schema) == kind


SCHEMA = {
    "properties": {
        "when": {"type": "string", "format": "date-time"},
        "site": {"type": "string"},
        "n": {"type": "integer"},
        "x": {"type": ["null", "integer", "number"]},
        "ok": {"type": "boolean"},
        "note": {"type": "string"},
        "seen": {"type": "string", "format": "date-time"},
        "doc": {"type": "object"},
        "list": {"type": "array"},
        "any": {},
        "sp ace,comma=eq": {"type": "string"},
    }
}
RECORDS = [
    {
        "when": datetime.datetime(2025, 3, 30, 0, 59, 59, 999999, tzinfo=UTC),
        "site": "a b,c=d",
        "n": 0,
        "x": 0,
        "ok": False,
        "note": 'q"uote\\ back\nline\ttab ä€😀',
        "seen": datetime.datetime(2025, 1, 1, 12, tzinfo=UTC),
        "doc": {"k": Decimal("1.50")},
        "list": [1, "two"],
        "any": 3,
        "sp ace,comma=eq": "v",
    },
    {
        "when": datetime.datetime(2025, 3, 30, 1),
        "site": "plain",
        "n": -(2**63),
        "x": Decimal("0.1"),
        "ok": True,
        "note": "",
        "any": "text",
        "list": [],
    },
    {
        "when": datetime.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        "site": "",
        "x": 1e16,
        "n": 2**63 - 1,
        "any": {"nested": True},
    },
]


def point_of(builder: LineBuilder, record: dict, precision: str) -> str:
    """The same record through the client's Point, with the values our kinds convert to."""
    point = Point(builder.plan.measurement)
    for tag in builder.plan.tags:
        if record.get(tag) is not None:
            point.tag(tag, tag_text(record[tag]))
    for spec in builder.plan.fields:
        value = record.get(spec.prop)
        if value is None:
            continue
        if spec.kind is Kind.FLOAT:
            value = float(value)
        elif spec.kind is Kind.STRING and isinstance(value, datetime.datetime):
            value = value.isoformat()
        elif spec.kind in (Kind.JSON, Kind.UNTYPED) and not isinstance(value, str):
            value = serialize_json(value, ensure_ascii=False)  # the SDK's JSON (Decimal as is)
        point.field(spec.prop, value)
    return point.time(record["when"], precision).to_line_protocol()


@pytest.mark.parametrize("precision", ["s", "ms", "us", "ns"])
def test_lines_are_byte_identical_to_the_client_point_serializer(precision):
    plan = plan_stream(
        "m e,a=s",
        SCHEMA,
        ["site", "when"],
        [],
        measurements={},
        tag_keys={},
        timestamp_key={},
        write_metadata=False,
    )
    builder = LineBuilder(plan, precision)
    for record in RECORDS:
        ours = f"{builder.series(record)} {builder.fields(record)} {builder.time(record)}"
        assert ours == point_of(builder, record, precision)


def test_epoch_reads_a_naive_time_as_utc():
    naive = datetime.datetime(2025, 10, 26, 1, 30)
    aware = datetime.datetime(
        2025, 10, 26, 3, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2))
    )
    assert epoch(naive, "s") == epoch(aware, "s") == 1761442200
    assert epoch(naive, "ns") == 1761442200 * 10**9


def plan(properties, measurements=None):
    return plan_stream(
        "s",
        {"properties": properties},
        [],
        [],
        measurements=measurements or {},
        tag_keys={},
        timestamp_key={},
        write_metadata=False,
    )


@pytest.mark.parametrize("name", ["ends with\\", "back\\,slash", "tab\tbed", "new\nline"])
def test_names_line_protocol_cannot_carry_are_refused_before_anything_is_written(name):
    with pytest.raises(StreamError, match=r"Rename it with a stream map"):
        plan({name: {"type": "string"}})
    with pytest.raises(StreamError, match=r"Rename it with a stream map"):
        plan({}, measurements={"s": name})


def test_a_measurement_starting_with_a_hash_would_be_a_comment_and_is_refused():
    with pytest.raises(StreamError, match=r"measurement '#x'"):
        plan({}, measurements={"s": "#x"})
