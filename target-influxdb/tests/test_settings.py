"""Settings: defaults only from the schema, null or empty meaning the default, and what the sinks
get from them (no server needed: no record is written)."""

from __future__ import annotations

import io
import json

from target_influxdb.settings import SCHEMA, Settings
from target_influxdb.sinks import InfluxDBSink
from target_influxdb.target import TargetInfluxDB


def test_null_or_empty_settings_get_the_schema_defaults_and_explicit_falsy_values_stay():
    unset = Settings.from_config(
        {"url": "", "timeout": None, "verify_ssl": None, "precision": None, "database": ""}
    )
    defaults = SCHEMA["properties"]
    assert unset == Settings.from_config({})
    assert unset.connection.url == defaults["url"]["default"] == "http://localhost:8086"
    assert unset.connection.timeout == defaults["timeout"]["default"] == 30
    assert unset.connection.verify_ssl is True
    assert unset.precision == "s"
    assert unset.v1 is None  # an empty `database` is no destination

    explicit = Settings.from_config({"verify_ssl": False, "max_retries": 0, "retry_interval": 0})
    assert explicit.connection.verify_ssl is False
    assert explicit.connection.max_retries == 0
    assert explicit.connection.retry_interval == 0


def schema(stream: str, **extra) -> str:
    properties = {"id": {"type": "string"}, "updated": {"type": "string", "format": "date-time"}}
    message = {
        "type": "SCHEMA",
        "stream": stream,
        "schema": {"properties": properties},
        "key_properties": ["id"],
        **extra,
    }
    return json.dumps(message) + "\n"


def test_a_null_batch_size_means_the_declared_default_not_the_sdks():
    target = TargetInfluxDB(config={"database": "db", "batch_size_rows": None})
    target.listen(io.StringIO(schema("s")))
    assert target.get_sink("s").max_size == SCHEMA["properties"]["batch_size_rows"]["default"]


def test_an_aliased_stream_keeps_its_replication_key_as_the_time():
    target = TargetInfluxDB(
        config={"database": "db", "stream_maps": {"s": {"__alias__": "renamed"}}}
    )
    target.listen(io.StringIO(schema("s", bookmark_properties=["updated"])))
    sink = target.get_sink("renamed")
    assert isinstance(sink, InfluxDBSink)
    assert sink.run is not None
    run = sink.run
    assert run.plan.measurement == "renamed"
    assert run.plan.time_property == "updated"
