"""Names and values with any character round-trip through a real InfluxDB 1.x unchanged."""

from __future__ import annotations

NAMES = ["a b", "a,b", "a=b", 'a"b', "a\\b", "ä€😀", " lead", "trail ", "=", "x,y=z w"]
STRINGS = [
    *NAMES,
    "line\nbreak",
    "tab\there",
    "cr\rhere",
    "ends with\\",
    "\\",
    'both \\" and "\\',
    "nul\x00char",
    "",
]


def test_measurement_tag_and_field_names_with_special_characters_round_trip(
    load, v1_config, influxdb1
):
    measurement = 'meter room 1, "east"=ä\\x'
    properties = {"when": {"type": "string", "format": "date-time"}}
    for number, name in enumerate(NAMES):
        properties[f"tag {number} {name}"] = {"type": "string"}
        properties[f"field {number} {name}"] = {"type": "number"}
    record = {"when": "2025-10-26T00:00:00Z"}
    for number, name in enumerate(NAMES):
        record[f"tag {number} {name}"] = name
        record[f"field {number} {name}"] = number
    tags = [p for p in properties if p.startswith("tag ")]
    load(
        {**v1_config, "measurements": {"s": measurement}},
        [
            {
                "type": "SCHEMA",
                "stream": "s",
                "schema": {"properties": properties},
                "key_properties": ["when", *tags],
            },
            {"type": "RECORD", "stream": "s", "record": record},
        ],
    )

    database = v1_config["database"]
    assert influxdb1.measurements(database) == [measurement]
    [point] = influxdb1.points(database, measurement)
    for number, name in enumerate(NAMES):
        assert point[f"tag {number} {name}"] == name
        assert point[f"field {number} {name}"] == number
    assert point["time"] == 1761436800


def test_string_field_values_with_any_character_round_trip(load, v1_config, influxdb1):
    schema = {
        "properties": {
            "n": {"type": "integer"},
            "when": {"type": "string", "format": "date-time"},
            "text": {"type": "string"},
        }
    }
    messages = [
        {
            "type": "SCHEMA",
            "stream": "s",
            "schema": schema,
            "key_properties": ["n"],
            "bookmark_properties": ["when"],
        }
    ]
    for number, text in enumerate(STRINGS):
        messages.append(
            {
                "type": "RECORD",
                "stream": "s",
                "record": {"n": number, "when": "2025-01-01T00:00:00Z", "text": text},
            }
        )
    load(v1_config, messages)

    stored = {int(p["n"]): p["text"] for p in influxdb1.points(v1_config["database"], "s")}
    assert stored == dict(enumerate(STRINGS))


def test_tag_values_with_any_representable_character_round_trip(load, v1_config, influxdb1):
    """Empty tag values are left out (InfluxDB has no empty tags); others keep every character."""
    values = [*NAMES, "", "C:\\Users\\me", "100%", "#hash"]
    schema = {
        "properties": {"n": {"type": "integer"}, "tag": {"type": "string"}, "v": {"type": "number"}}
    }
    messages = [{"type": "SCHEMA", "stream": "s", "schema": schema, "key_properties": ["n"]}]
    tags = {"s": ["n", "tag"]}
    for number, value in enumerate(values):
        messages.append(
            {"type": "RECORD", "stream": "s", "record": {"n": number, "tag": value, "v": 1.5}}
        )
    load({**v1_config, "tag_keys": tags}, messages)

    stored = {int(p["n"]): p["tag"] for p in influxdb1.points(v1_config["database"], "s")}
    assert stored == {n: (value or None) for n, value in enumerate(values)}


def test_a_tag_value_line_protocol_cannot_carry_stops_the_run_with_its_line(
    run_cli, v1_config, influxdb1
):
    """InfluxDB would store a tag value ending in a backslash as something else: refuse it."""
    schema = {
        "properties": {
            "n": {"type": "integer"},
            "path": {"type": "string"},
            "v": {"type": "number"},
        }
    }
    result = run_cli(
        {**v1_config, "tag_keys": {"s": ["path"]}},
        [
            {"type": "SCHEMA", "stream": "s", "schema": schema, "key_properties": ["n"]},
            {"type": "RECORD", "stream": "s", "record": {"n": 1, "path": "C:\\ok", "v": 1}},
            {"type": "RECORD", "stream": "s", "record": {"n": 2, "path": "C:\\dir\\", "v": 2}},
        ],
    )

    assert result.returncode == 1
    assert "Input line 3: Stream 's': tag 'path' has the value 'C:\\\\dir\\\\'" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert influxdb1.measurements(v1_config["database"]) == []
