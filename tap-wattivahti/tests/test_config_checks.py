"""The keys the tap's config checks know besides its own settings (docs/design.md#config-checks;
tests/test_config_checks.py runs the checks from the console script)."""

from __future__ import annotations

import copy

from tap_wattivahti.settings import config_warnings
from tap_wattivahti.tap import TapWattiVahti


def test_the_sdks_built_in_settings_and_the_ones_it_reads_are_known():
    schema = copy.deepcopy(TapWattiVahti.config_jsonschema)
    TapWattiVahti.append_builtin_config(schema)
    built_in = {
        "stream_maps", "stream_map_config", "faker_config", "flattening_enabled",
        "flattening_max_depth", "flattening_max_key_length", "flattening_separator",
        "batch_config",
    }  # fmt: skip
    assert built_in <= set(schema["properties"])
    read_by_the_sdk = {"user_agent", "emit_activate_version_messages"}  # not declared by it
    config = dict.fromkeys(set(schema["properties"]) | read_by_the_sdk)
    assert config_warnings(config, schema, []) == []
    assert len(config_warnings({**config, "correction_day": 3}, schema, [])) == 1
