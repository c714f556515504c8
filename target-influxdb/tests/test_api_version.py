"""`api_version`: auto picks the flavour from the settings, then /ping; an explicit one wins."""

from __future__ import annotations

import pytest
from target_influxdb.errors import ConfigurationError

INPUT = "consumption.singer"
SEED = {"measurements": {"consumption": "electricity_consumption"}}
V2_SETTINGS = {"bucket": "electricity", "org": "wattivahti", "token": "t0ken"}


def v1_points(influxdb1, database):
    return len(influxdb1.points(database, "electricity_consumption"))


def vm_points(vm):
    return sum(len(v) for k, v in vm.samples().items() if k[0].endswith("_kwh"))


def test_auto_with_only_a_database_writes_v1(load, v1_config, influxdb1):
    loaded = load({**v1_config, **SEED}, INPUT)
    assert v1_points(influxdb1, v1_config["database"]) == 5
    assert "with API v1 (/write): `database` is set" in loaded.log


def test_auto_with_only_a_bucket_writes_v2(load, v2_config, empty_victoria_metrics):
    loaded = load({**v2_config, **SEED}, INPUT)
    assert vm_points(empty_victoria_metrics) == 5
    assert "with API v2 (/api/v2/write): `bucket` is set" in loaded.log


def test_auto_with_both_asks_an_influxdb_1x_server_and_writes_v1(load, v1_config, influxdb1):
    loaded = load({**v1_config, **V2_SETTINGS, **SEED}, INPUT)
    assert v1_points(influxdb1, v1_config["database"]) == 5
    assert "API v1 (/write): both flavours' settings are set and the server is InfluxDB 1." in (
        loaded.log
    )


def test_auto_with_both_writes_v2_to_a_server_that_says_it_is_2x(
    load, v2_config, empty_victoria_metrics, fault_proxy
):
    proxy = fault_proxy(empty_victoria_metrics.url)
    proxy.ping_headers = {"X-Influxdb-Version": "v2.7.11"}
    loaded = load({**v2_config, "url": proxy.url, "database": "unused", **SEED}, INPUT)
    assert vm_points(empty_victoria_metrics) == 5
    assert "server is InfluxDB v2.7.11" in loaded.log
    assert {path.split("?")[0] for _, path in proxy.writes} == {"/api/v2/write"}


def test_auto_with_both_and_a_server_that_does_not_say_is_a_clear_error(
    load, v2_config, empty_victoria_metrics
):
    with pytest.raises(
        ConfigurationError,
        match=r"answered /ping with no X-Influxdb-Version .* "
        r"Set `api_version` to v1 or v2",
    ):
        load({**v2_config, "database": "db", **SEED}, INPUT)


@pytest.mark.parametrize("api_version", ["auto", "v1", "v2"])
def test_no_destination_for_the_chosen_flavour_is_a_clear_error(load, api_version):
    config = {"url": "http://127.0.0.1:9", "api_version": api_version}
    if api_version == "v1":
        config.update(V2_SETTINGS)  # the other flavour's settings do not count
    expected = {
        "auto": "No destination is set",
        "v1": "`database` is not set",
        "v2": "`bucket` is not set",
    }[api_version]
    with pytest.raises(ConfigurationError, match=expected):
        load(config, INPUT)


def test_explicit_v1_ignores_v2_settings(load, v1_config, influxdb1):
    loaded = load({**v1_config, **V2_SETTINGS, "api_version": "v1", **SEED}, INPUT)
    assert v1_points(influxdb1, v1_config["database"]) == 5
    assert "API v1 (/write): configured" in loaded.log


def test_explicit_v2_ignores_v1_settings(load, v2_config, empty_victoria_metrics):
    config = {
        **v2_config,
        "database": "db",
        "username": "u",
        "password": "p",
        "api_version": "v2",
        **SEED,
    }
    load(config, INPUT)
    assert vm_points(empty_victoria_metrics) == 5


@pytest.mark.parametrize("api_version", ["v1", "v2"])
def test_victoria_metrics_gets_one_warning_naming_the_string_fields_it_cannot_store(
    load, v2_config, empty_victoria_metrics, api_version
):
    """VictoriaMetrics (told by its /ping: X-Server-Hostname, no X-Influxdb-Version) keeps
    numbers only: the string field `resolution` is stored as 0, which the warning says."""
    config = {**v2_config, "database": "electricity", "api_version": api_version, **SEED}
    loaded = load(config, INPUT)

    [warning] = [w for w in loaded.warnings() if "VictoriaMetrics" in w]
    assert warning.startswith(
        "Stream 'consumption': the server is VictoriaMetrics, which stores numbers only: the "
        "string fields ['resolution'] are not stored as text"
    )
    assert "`tag_keys` for this stream" in warning
    assert '{"consumption": {"resolution": null}}' in warning
    stored = [
        values
        for key, values in empty_victoria_metrics.samples().items()
        if key[0] == "electricity_consumption_resolution"
    ]
    assert [set(values.values()) for values in stored] == [{0}] * len(stored) != []


def test_influxdb_gets_no_victoria_metrics_warning(load, v1_config, influxdb1):
    loaded = load({**v1_config, **SEED}, INPUT)
    assert not [w for w in loaded.warnings() if "VictoriaMetrics" in w]
    assert {
        p["resolution"] for p in influxdb1.points(v1_config["database"], "electricity_consumption")
    } == {"PT1H", "PT15MIN"}
