"""The SDK's standard target tests against a real InfluxDB 1.x, plus what each input stored.

The standard tests only check that nothing raised; every one that writes data is extended here
with assertions on the points really stored. The config is per test (a fresh database), so the
`runner` fixture of the generated class is replaced rather than fixing a config at import.

None of the standard inputs has a time property, so their points get the run's start time (no
`time_extracted`) and are told apart by their key properties, which become tags. Inputs without
key properties therefore collapse onto one point per measurement, with a collision warning.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner
from target_influxdb.target import TargetInfluxDB

# The generated class's test methods are attributes set at run time: typed as Any for ty.
StandardTests: Any = get_target_test_class(TargetInfluxDB, config={})


def by_tag(points, tag):
    return {point[tag]: point for point in points}


class TestTargetInfluxDB(StandardTests):
    """Standard tests, each on a new database of the session's InfluxDB 1.x."""

    @pytest.fixture
    def runner(self, influxdb1, influx_database):
        config = {"url": influxdb1.url, "database": influx_database, "max_retries": 0}
        return TargetTestRunner(target_class=TargetInfluxDB, config=config)

    @pytest.fixture(autouse=True)
    def _logs(self, caplog):
        caplog.set_level(logging.INFO)

    def test_target_array_data(self, config, resource, runner, influxdb1):
        StandardTests.test_target_array_data(config, resource, runner)
        points = by_tag(influxdb1.points(runner.config["database"], "test_array_data"), "id")
        assert {key: json.loads(p["fruits"]) for key, p in points.items()} == {
            "1": ["apple", "orange", "pear"],
            "2": ["banana", "apple"],
            "3": ["pear"],
            "4": ["orange", "banana", "apple", "pear"],
        }

    def test_target_camelcase(self, config, resource, runner, influxdb1):
        StandardTests.test_target_camelcase(config, resource, runner)
        points = by_tag(influxdb1.points(runner.config["database"], "TestCamelcase"), "Id")
        assert {key: p["clientName"] for key, p in points.items()} == {
            "1": "Gitter Windows Desktop App",
            "2": "Gitter iOS App",
        }

    def test_target_camelcase_complex_schema(self, config, resource, runner, influxdb1):
        StandardTests.test_target_camelcase_complex_schema(config, resource, runner)
        assert influxdb1.measurements(runner.config["database"]) == []  # schemas only

    def test_target_duplicate_records(self, config, resource, runner, influxdb1, caplog):
        """Later versions of a record (same key properties) win, without a collision warning."""
        StandardTests.test_target_duplicate_records(config, resource, runner)
        points = influxdb1.points(runner.config["database"], "test_duplicate_records")
        assert {p["id"]: p["metric"] for p in points} == {"1": 100, "2": 20}
        assert influxdb1.field_types(runner.config["database"], "test_duplicate_records") == {
            "metric": "integer"
        }
        assert "same measurement" not in caplog.text
        assert "3 records updated an earlier record" in caplog.text

    def test_target_encoded_string_data(self, config, resource, runner, influxdb1):
        StandardTests.test_target_encoded_string_data(config, resource, runner)
        database = runner.config["database"]
        strings = {p["id"]: p["info"] for p in influxdb1.points(database, "test_strings")}
        assert strings["2"] == "απλή συμβολοσειρά"
        assert strings["5"] == 'quoted "string"'
        assert strings["6"] == 'various " \\ / \n escape sequences'
        assert strings["10"] == "Double quoting: \\u0000 \\u0041 \\u0001"
        assert strings["11"] == "Control Characters in string: \x00 A \x01"
        assert len(strings) == 11
        objects = by_tag(influxdb1.points(database, "test_strings_in_objects"), "id")
        assert json.loads(objects["3"]["info"]) == {"name": "chinese", "value": "简单的字串"}
        assert json.loads(objects["6"]["info"])["value"] == 'various " \\ / \n escape sequences'

    def test_target_no_primary_keys(self, config, resource, runner, influxdb1, caplog):
        """No key, no time: every record lands on one point (the last wins) and we warn."""
        StandardTests.test_target_no_primary_keys(config, resource, runner)
        points = influxdb1.points(runner.config["database"], "test_no_pk")
        assert [(p["id"], p["metric"]) for p in points] == [(3, 33)]
        warning = next(r.getMessage() for r in caplog.records if "same measurement" in r.message)
        assert "'test_no_pk': 2 records" in warning
        assert "`timestamp_key`" in warning
        assert "`tag_keys`" in warning

    def test_target_optional_attributes(self, config, resource, runner, influxdb1, caplog):
        """Records 2 and 4 have only their key (a tag): no field, so no point, and a warning."""
        StandardTests.test_target_optional_attributes(config, resource, runner)
        points = influxdb1.points(runner.config["database"], "test_optional_attributes")
        assert {p["id"]: p["optional"] for p in points} == {
            "1": "This is optional",
            "3": "Also optional",
        }
        assert "'test_optional_attributes': 2 records had no field" in caplog.text

    def test_target_pk_updates(self, config, resource, runner, influxdb1):
        """The input's key_properties sit inside the schema, so the stream has none: its two
        records share one point (each in its own batch, as the schema changed between them)."""
        StandardTests.test_target_pk_updates(config, resource, runner)
        points = influxdb1.points(runner.config["database"], "example_stream")
        assert [(p["id"], p["name"], p["email"]) for p in points] == [(2, "Bob", "bob@example.com")]

    def test_target_record_missing_fields(self, config, resource, runner, influxdb1, caplog):
        """A record with nothing but its key has no field: counted and reported, not written."""
        StandardTests.test_target_record_missing_fields(config, resource, runner)
        points = influxdb1.points(runner.config["database"], "record_missing_fields")
        assert [(p["id"], p["optional"]) for p in points] == [("1", "now you see me")]
        assert "'record_missing_fields': 1 records had no field" in caplog.text

    def test_target_schema_no_properties(self, config, resource, runner, influxdb1):
        StandardTests.test_target_schema_no_properties(config, resource, runner)
        database = runner.config["database"]
        for measurement in (
            "test_object_schema_with_properties",
            "test_object_schema_no_properties",
        ):
            points = influxdb1.points(database, measurement)
            assert len(points) == 1  # no key and no time: the last record wins (with a warning)
            assert json.loads(points[0]["object_store"])["id"] == 2

    def test_target_schema_updates(self, config, resource, runner, influxdb1):
        StandardTests.test_target_schema_updates(config, resource, runner)
        database = runner.config["database"]
        points = by_tag(influxdb1.points(database, "test_schema_updates"), "id")
        assert sorted(points) == ["1", "2", "3", "4", "5", "6"]
        assert points["1"]["a1"] == 101.0
        assert points["1"]["a3"] is None
        assert points["2"]["a3"] is True
        assert json.loads(points["4"]["a4"]) == {"id": 2, "value": 22}
        assert json.loads(points["6"]["a5"]) == ["banana", "orange"]
        assert points["5"]["a6"] == 985
        assert influxdb1.field_types(database, "test_schema_updates") == {
            "a1": "float",  # `number`, though every value in the input is a JSON integer
            "a2": "string",
            "a3": "boolean",
            "a4": "string",
            "a5": "string",
            "a6": "integer",
        }

    def test_target_special_chars_in_attributes(self, config, resource, runner, influxdb1):
        StandardTests.test_target_special_chars_in_attributes(config, resource, runner)
        points = influxdb1.points(runner.config["database"], "test:SpecialChars!in?attributes")
        assert len(points) == 1
        assert points[0]["_id"] == "a2e98886"
        assert points[0]["time"] == 1541199424  # the RECORD's time_extracted, in seconds
        assert json.loads(points[0]["d"]) == {
            "env": "prod",
            "agent:type": "desktop",
            "agent:os:version": "10.13.1",
        }
