"""The keys the target's config checks know besides its own settings
(docs/design.md#config-checks; tests/test_config_checks.py runs the checks from the console
script)."""

from __future__ import annotations

import logging

from target_influxdb.settings import warn_about_config
from target_influxdb.target import TargetInfluxDB


def test_the_sdks_built_in_settings_and_the_ones_it_reads_are_known(caplog):
    built_in = {
        "stream_maps", "stream_map_config", "faker_config", "flattening_enabled",
        "flattening_max_depth", "flattening_max_key_length", "flattening_separator",
        "validate_records", "add_record_metadata", "load_method", "batch_size_rows",
    }  # fmt: skip
    read_by_the_sdk = {"batch_config", "process_activate_version_messages"}  # not declared
    config = dict.fromkeys(set(TargetInfluxDB.config_jsonschema["properties"]) | built_in)
    with caplog.at_level(logging.WARNING):
        warn_about_config(TargetInfluxDB, {**config, **dict.fromkeys(read_by_the_sdk)}, [])
        assert caplog.records == []
        warn_about_config(TargetInfluxDB, {**config, "batch_size_row": 3}, [])
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
