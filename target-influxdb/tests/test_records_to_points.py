"""How records become points: field types, tags, time, metadata, evolution, collisions."""

from __future__ import annotations

import json

import pytest

WHEN = {"type": "string", "format": "date-time"}


def schema_message(properties, key_properties=("when",), stream="s", **extra):
    return {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"type": "object", "properties": properties},
        "key_properties": list(key_properties),
        **extra,
    }


def records(*rows, stream="s", **extra):
    return [{"type": "RECORD", "stream": stream, "record": row, **extra} for row in rows]


def test_every_schema_type_becomes_its_influxdb_field_type(load, v1_config, influxdb1):
    properties = {
        "when": WHEN,
        "count": {"type": ["null", "integer"]},
        "ratio": {"type": ["integer", "null", "number"]},
        "on": {"type": "boolean"},
        "name": {"type": "string"},
        "seen": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
        "day": {"type": "string", "format": "date"},
        "doc": {"type": "object", "properties": {"a": {"type": "number"}}},
        "list": {"type": "array", "items": {"type": "integer"}},
        "anything": {},
        "mixed": {"type": ["string", "integer"]},
    }
    row = {
        "when": "2025-10-26T00:00:00Z",
        "count": 7,
        "ratio": 3,
        "on": True,
        "name": "x",
        "seen": "2025-10-26T01:02:03+02:00",
        "day": "2025-10-26",
        "doc": {"a": 1.25},
        "list": [1, 2],
        "anything": {"k": [True, None]},
        "mixed": 5,
    }
    load(v1_config, [schema_message(properties), *records(row)])

    database = v1_config["database"]
    assert influxdb1.field_types(database, "s") == {
        "count": "integer",
        "ratio": "float",
        "on": "boolean",
        "name": "string",
        "seen": "string",
        "day": "string",
        "doc": "string",
        "list": "string",
        "anything": "string",
        "mixed": "string",
    }
    [point] = influxdb1.points(database, "s")
    assert point["count"] == 7
    assert point["ratio"] == 3.0
    assert point["on"] is True
    assert point["seen"] == "2025-10-26T01:02:03+02:00"
    assert point["day"] == "2025-10-26"
    assert json.loads(point["doc"]) == {"a": 1.25}
    assert json.loads(point["list"]) == [1, 2]
    assert json.loads(point["anything"]) == {"k": [True, None]}
    assert point["mixed"] == "5"


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("count", 1.5),
        ("count", 2**63),
        ("count", "7"),
        ("ratio", "0.5"),
        ("on", 1),
        ("doc", "text"),
    ],
)
def test_a_value_that_does_not_fit_its_type_stops_the_run_naming_it(
    load, v1_config, influxdb1, prop, value
):
    """With the SDK's validation off, the target's own type checks still refuse garbage."""
    properties = {
        "when": WHEN,
        "count": {"type": "integer"},
        "ratio": {"type": "number"},
        "on": {"type": "boolean"},
        "doc": {"type": "object"},
    }
    good = {"when": "2025-10-26T00:00:00Z", "count": 1, "ratio": 0.5, "on": True}
    bad = {**good, "when": "2025-10-26T01:00:00Z", prop: value}
    with pytest.raises(Exception, match=rf"Stream 's': property '{prop}' has the value") as error:
        load(
            {**v1_config, "validate_records": False},
            [schema_message(properties), *records(good, bad)],
        )

    assert "Input line 3" in str(error.value)
    assert repr(value) in str(error.value)
    assert influxdb1.measurements(v1_config["database"]) == []  # the batch was not written


def test_schema_validation_if_asked_for_names_the_stream_and_property(load, v1_config):
    properties = {"when": WHEN, "count": {"type": "integer"}}
    row = {"when": "2025-10-26T00:00:00Z", "count": "many"}
    with pytest.raises(
        Exception,
        match=r"Input line 2: Stream 's': a record does not match the "
        r"stream's schema at count: 'many' is not of type",
    ):
        load({**v1_config, "validate_records": True}, [schema_message(properties), *records(row)])


def test_sdc_metadata_is_left_out_unless_add_record_metadata_asks_for_it(
    load, v1_config, influxdb1
):
    properties = {
        "when": WHEN,
        "v": {"type": "number"},
        "_sdc_extracted_at": WHEN,
        "_sdc_custom": {"type": "string"},
    }
    row = {
        "when": "2025-10-26T00:00:00Z",
        "v": 1,
        "_sdc_extracted_at": "2025-10-27T00:00:00Z",
        "_sdc_custom": "tap's own",
    }
    database = v1_config["database"]
    load(v1_config, [schema_message(properties), *records(row)])
    assert influxdb1.field_types(database, "s") == {"v": "float"}

    load(
        {**v1_config, "add_record_metadata": True, "measurements": {"s": "with_metadata"}},
        [schema_message(properties), *records(row, time_extracted="2025-10-27T00:00:00Z")],
    )
    [point] = influxdb1.points(database, "with_metadata")
    assert point["_sdc_extracted_at"] == "2025-10-27T00:00:00Z"  # as the RECORD had it
    assert point["_sdc_custom"] == "tap's own"
    assert isinstance(point["_sdc_sequence"], int)


def test_tag_keys_and_timestamp_key_settings_override_the_defaults(load, v1_config, influxdb1):
    properties = {
        "id": {"type": "integer"},
        "site": {"type": "string"},
        "measured": {"type": "string"},
        "epoch": {"type": "integer"},
        "v": {"type": "number"},
    }
    rows = [
        {"id": 1, "site": "north", "measured": "2025-10-26T00:00:00", "epoch": 5, "v": 1},
        {"id": 2, "site": "south", "measured": "2025-10-26T00:00:00", "epoch": 6, "v": 2},
    ]
    config = {
        **v1_config,
        "tag_keys": {"s": ["site"]},
        "timestamp_key": {"s": "measured"},
        "measurements": {"s": "by_site", "t": "by_epoch"},
    }
    load(config, [schema_message(properties, key_properties=["id"]), *records(*rows)])
    load(
        {**config, "timestamp_key": {"t": "epoch"}, "precision": "ms"},
        [
            schema_message(properties, key_properties=["id"], stream="t"),
            *records(*rows, stream="t"),
        ],
    )

    database = v1_config["database"]
    by_site = influxdb1.points(database, "by_site")
    assert [(p["time"], p["site"], p["id"], p["v"]) for p in by_site] == [
        (1761436800, "north", 1, 1.0),  # a naive date-time is UTC; `id` is now a field
        (1761436800, "south", 2, 2.0),
    ]
    by_epoch = influxdb1.query('SELECT * FROM "by_epoch"', database)  # epoch=s rounds ms away
    assert len(by_epoch[0]["values"]) == 2
    rows_ms = influxdb1.session.post(
        f"{influxdb1.url}/query",
        data={"q": 'SELECT "v" FROM "by_epoch"', "db": database, "epoch": "ms"},
        timeout=10,
    ).json()["results"][0]["series"][0]["values"]
    assert rows_ms == [[5, 1.0], [6, 2.0]]


def test_a_replication_key_is_the_time_when_no_key_property_is_a_date_time(
    load, v1_config, influxdb1
):
    properties = {"id": {"type": "string"}, "updated": WHEN, "v": {"type": "number"}}
    rows = [
        {"id": "a", "updated": "2025-10-26T00:00:00Z", "v": 1},
        {"id": "a", "updated": "2025-10-26T00:15:00Z", "v": 2},
    ]
    load(
        v1_config,
        [
            schema_message(properties, key_properties=["id"], bookmark_properties=["updated"]),
            *records(*rows),
        ],
    )

    points = influxdb1.points(v1_config["database"], "s")
    assert [(p["time"], p["id"], p["v"]) for p in points] == [
        (1761436800, "a", 1.0),
        (1761437700, "a", 2.0),
    ]


@pytest.mark.parametrize("validate", [False, True], ids=["direct", "sdk-path"])
def test_a_stream_without_a_time_property_uses_the_extraction_time_and_says_so_once(
    load, v1_config, influxdb1, validate
):
    """Also on the SDK's per-record path (here: validation on), which hands the sink only the
    record, not the RECORD message with its time_extracted."""
    properties = {"id": {"type": "string"}, "v": {"type": "number"}}
    messages = [
        schema_message(properties, key_properties=["id"]),
        *records({"id": "a", "v": 1}, time_extracted="2025-10-26T00:00:00.5Z"),
        *records({"id": "a", "v": 2}, time_extracted="2025-10-26T01:00:00Z"),
        schema_message({**properties, "w": {"type": "number"}}, key_properties=["id"]),
        *records({"id": "b", "v": 3, "w": 4}),
    ]
    loaded = load({**v1_config, "validate_records": validate}, messages)

    points = influxdb1.points(v1_config["database"], "s")
    assert [(p["id"], p["v"]) for p in points[:2]] == [("a", 1.0), ("a", 2.0)]
    assert [p["time"] for p in points[:2]] == [1761436800, 1761440400]
    assert points[2]["id"] == "b"  # no time_extracted: the run's start, i.e. about now
    assert points[2]["time"] > 1761440400
    notices = [w for w in loaded.warnings() if "extraction time" in w]
    assert len(notices) == 1
    assert "Set `timestamp_key`" in notices[0]


def test_new_fields_mid_stream_are_written_from_the_new_schema_on(load, v1_config, influxdb1):
    first = {"when": WHEN, "a": {"type": "number"}}
    second = {**first, "b": {"type": "integer"}, "c": {"type": "string"}}
    messages = [
        schema_message(first),
        *records({"when": "2025-10-26T00:00:00Z", "a": 1}),
        schema_message(second),
        *records({"when": "2025-10-26T01:00:00Z", "a": 2, "b": 3, "c": "new"}),
        # a property the schema does not declare is written as a string field
        *records({"when": "2025-10-26T02:00:00Z", "a": 3, "surprise": 42}),
    ]
    loaded = load(v1_config, messages)

    assert "properties ['surprise'] are not in the stream's schema" in loaded.log
    database = v1_config["database"]
    assert influxdb1.field_types(database, "s") == {
        "a": "float",
        "b": "integer",
        "c": "string",
        "surprise": "string",
    }
    points = influxdb1.points(database, "s")
    assert [(p["a"], p["b"], p["c"], p["surprise"]) for p in points] == [
        (1.0, None, None, None),
        (2.0, 3, "new", None),
        (3.0, None, None, "42"),
    ]


def test_different_records_on_one_point_are_reported_with_a_hint(load, v1_config, influxdb1):
    """`tag_keys` leaves out the metering point: two meters collide on one point per time."""
    properties = {
        "metering_point": {"type": "string"},
        "timestamp": WHEN,
        "kwh": {"type": "number"},
    }
    rows = [
        {"metering_point": mp, "timestamp": f"2025-10-26T0{h}:00:00Z", "kwh": h + n / 10}
        for h in range(3)
        for n, mp in enumerate(["111", "222"])
    ]
    loaded = load(
        {**v1_config, "tag_keys": {"consumption": []}},
        [
            schema_message(
                properties, key_properties=["metering_point", "timestamp"], stream="consumption"
            ),
            *records(*rows, stream="consumption"),
        ],
    )

    assert len(influxdb1.points(v1_config["database"], "consumption")) == 3
    [warning] = [w for w in loaded.warnings() if "in this batch" in w]
    assert "'consumption': 3 records" in warning
    assert "`timestamp_key`" in warning
    assert "`tag_keys`" in warning
    assert any("3 records in total" in w for w in loaded.warnings())


def test_stream_maps_and_flattening_shape_the_points(load, v1_config, influxdb1):
    properties = {
        "when": WHEN,
        "meter": {
            "type": "object",
            "properties": {"id": {"type": "string"}, "kwh": {"type": "number"}},
        },
        "secret": {"type": "string"},
    }
    row = {"when": "2025-10-26T00:00:00Z", "meter": {"id": "m1", "kwh": 2}, "secret": "x"}
    config = {
        **v1_config,
        "flattening_enabled": True,
        "flattening_max_depth": 1,
        "stream_maps": {"s": {"secret": "__NULL__", "__alias__": "renamed"}},
    }
    load(config, [schema_message(properties), *records(row)])

    database = v1_config["database"]
    assert influxdb1.measurements(database) == ["renamed"]
    assert influxdb1.field_types(database, "renamed") == {
        "meter__id": "string",
        "meter__kwh": "float",
    }


def test_date_times_a_stream_map_makes_are_written_in_iso_8601_and_can_be_the_time(
    load, v1_config, influxdb1
):
    """The SDK leaves date-time strings as the tap sent them, but a stream map's expression can
    make Python date-times: a field gets its ISO 8601 text, the time property its instant."""
    properties = {"id": {"type": "string"}, "seen": {"type": "string"}}
    config = {
        **v1_config,
        "stream_maps": {
            "s": {
                "seen_at": "datetime.datetime.fromisoformat(seen)",
                "at": "datetime.datetime.fromisoformat(seen) + datetime.timedelta(hours=1)",
            }
        },
        "timestamp_key": {"s": "at"},
    }
    row = {"id": "a", "seen": "2025-10-26T01:02:03+02:00"}
    load(config, [schema_message(properties, key_properties=["id"]), *records(row)])

    [point] = influxdb1.points(v1_config["database"], "s")
    assert point["seen_at"] == "2025-10-26T01:02:03+02:00"
    assert point["time"] == 1761433323 + 3600  # 2025-10-25T23:02:03Z, an hour later


def test_an_empty_and_a_null_tag_on_one_point_are_reported_as_a_collision(
    load, v1_config, influxdb1
):
    """Both leave the tag out, so the two records share a point; they are different records
    (their key properties differ), not two versions of one."""
    properties = {"site": {"type": ["string", "null"]}, "when": WHEN, "kwh": {"type": "number"}}
    rows = [
        {"site": "", "when": "2025-10-26T00:00:00Z", "kwh": 1.5},
        {"site": None, "when": "2025-10-26T00:00:00Z", "kwh": 2.5},
    ]
    loaded = load(
        v1_config,
        [schema_message(properties, key_properties=["site", "when"]), *records(*rows)],
    )

    assert [p["kwh"] for p in influxdb1.points(v1_config["database"], "s")] == [2.5]
    [warning] = [w for w in loaded.warnings() if "in this batch" in w]
    assert "A tag whose value is empty or null is left out of the point" in warning
    assert "same key properties" not in loaded.log
