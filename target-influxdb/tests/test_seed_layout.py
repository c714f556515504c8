"""The layout users already have, from a `consumption`-like stream (see
docs/wattivahti-api.md#the-layout-users-already-have-in-influxdb).

The shipped meltano.yml sets only `measurements`; tags and time come from the defaults (key
properties less the time property; the date-time key property).
"""

from __future__ import annotations

SEED = {"measurements": {"consumption": "electricity_consumption"}}

EXPECTED_V1 = [
    # time, metering_point, resolution, kWh, Wh: the integer zeros of the first record are floats
    (1761436800, "1234567", "PT1H", 0.0, 0.0),
    (1761436800, "7654321", "PT15MIN", 0.031, 31.0),
    (1761437700, "7654321", "PT15MIN", 1.0, 1000.0),
    (1761440400, "1234567", "PT1H", 0.116, 116.0),
    (1761444000, "1234567", "PT1H", 0.102, 102.0),
]


def stored_v1(influxdb1, database):
    points = influxdb1.points(database, "electricity_consumption")
    return sorted(
        (p["time"], p["metering_point"], p["resolution"], p["consumption_kwh"], p["consumption_wh"])
        for p in points
    )


def test_consumption_lands_in_the_seed_layout_on_influxdb_1x(load, v1_config, influxdb1):
    loaded = load({**v1_config, **SEED}, "consumption.singer")

    database = v1_config["database"]
    assert influxdb1.measurements(database) == ["electricity_consumption"]
    assert stored_v1(influxdb1, database) == EXPECTED_V1
    assert influxdb1.field_types(database, "electricity_consumption") == {
        "consumption_kwh": "float",
        "consumption_wh": "float",
        "resolution": "string",
    }
    tag_keys = influxdb1.query('SHOW TAG KEYS FROM "electricity_consumption"', database)
    assert tag_keys[0]["values"] == [["metering_point"]]
    assert loaded.states[-1]["bookmarks"]["consumption"]["partitions"][1]["context"] == {
        "metering_point": "7654321"
    }
    assert loaded.warnings() == []


def test_integer_zero_of_a_number_property_is_written_as_a_float(load, v1_config, influxdb1):
    """`0` first, then `0.1`: typed from the value, the second write would be a type conflict."""
    schema = {
        "properties": {
            "t": {"type": "string", "format": "date-time"},
            "v": {"type": "number"},
            "u": {"type": ["integer", "null", "number"]},
            "w": {"anyOf": [{"type": "integer"}, {"type": "number"}]},
        }
    }
    records = [
        {"t": "2025-01-01T00:00:00Z", "v": 0, "u": 0, "w": 0},
        {"t": "2025-01-01T01:00:00Z", "v": 0.1, "u": 0.5, "w": 2.5},
    ]
    messages = [{"type": "SCHEMA", "stream": "m", "schema": schema, "key_properties": ["t"]}]
    load(v1_config, [*messages, *({"type": "RECORD", "stream": "m", "record": r} for r in records)])
    # The next run starts with a float: had the first run written integers, this would fail.
    load(v1_config, [*messages, {"type": "RECORD", "stream": "m", "record": records[1]}])

    database = v1_config["database"]
    assert influxdb1.field_types(database, "m") == {"u": "float", "v": "float", "w": "float"}
    assert [(p["v"], p["u"], p["w"]) for p in influxdb1.points(database, "m")] == [
        (0.0, 0.0, 0.0),
        (0.1, 0.5, 2.5),
    ]


def test_loading_the_same_stream_twice_leaves_the_same_points(load, v1_config, influxdb1):
    config = {**v1_config, **SEED}
    load(config, "consumption.singer")
    first = influxdb1.points(v1_config["database"], "electricity_consumption")
    again = load(config, "consumption.singer")

    assert influxdb1.points(v1_config["database"], "electricity_consumption") == first
    assert stored_v1(influxdb1, v1_config["database"]) == EXPECTED_V1
    assert again.warnings() == []


def test_consumption_lands_in_the_seed_layout_on_a_v2_line_protocol_server(
    load, v2_config, empty_victoria_metrics
):
    """VictoriaMetrics through the official client's /api/v2/write (no InfluxDB 2.x here).

    VictoriaMetrics names series `<measurement>_<field>` and stores string fields as 0.
    """
    loaded = load({**v2_config, **SEED}, "consumption.singer")

    samples = empty_victoria_metrics.samples()
    assert samples[("electricity_consumption_consumption_kwh", "metering_point=1234567")] == {
        1761436800: 0.0,
        1761440400: 0.116,
        1761444000: 0.102,
    }
    assert samples[("electricity_consumption_consumption_wh", "metering_point=7654321")] == {
        1761436800: 31.0,
        1761437700: 1000.0,
    }
    assert {key[0] for key in samples} == {
        "electricity_consumption_consumption_kwh",
        "electricity_consumption_consumption_wh",
        "electricity_consumption_resolution",
    }
    assert sum(len(values) for values in samples.values()) == 15  # 5 points x 3 fields
    assert "API v2" in loaded.log


def test_replay_to_a_v2_server_changes_nothing(load, v2_config, empty_victoria_metrics):
    config = {**v2_config, **SEED}
    load(config, "consumption.singer")
    first = empty_victoria_metrics.samples()
    load(config, "consumption.singer")

    assert empty_victoria_metrics.samples() == first
