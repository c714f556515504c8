"""meltano.yml, .env.example, docker-compose.yml and the plugins' own settings stay in step."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.servers import REPO_ROOT, docker_compose_command

PLUGINS = {"tap-wattivahti": "extractors", "target-influxdb": "loaders"}
# Meltano setting kinds and the JSON schema types a plugin may declare for them. A `number` may be
# declared `integer` in meltano.yml: Meltano 4.4 crashes on a `decimal` set from the environment
# ("Object of type Decimal is not JSON serializable"), and whole seconds are enough there.
KIND_TYPES = {
    "string": {"string"},
    "date_iso8601": {"string"},
    "options": {"string"},
    "integer": {"integer", "number"},
    "boolean": {"boolean"},
    "array": {"array"},
    "object": {"object"},
}


def meltano_yml() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "meltano.yml").read_text(encoding="utf-8"))


def plugin_definition(name: str) -> dict[str, Any]:
    plugins = meltano_yml()["plugins"][PLUGINS[name]]
    return next(p for p in plugins if p["name"] == name)


def about(name: str) -> dict[str, Any]:
    executable = Path(sys.executable).with_name(name)
    result = subprocess.run(
        [executable, "--about", "--format", "json"], capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout)


def schema_type(schema: dict[str, Any]) -> set[str]:
    kinds = schema.get("type", [])
    kinds = {kinds} if isinstance(kinds, str) else set(kinds)
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        kinds |= schema_type(option)
    return kinds - {"null"}


def env_example_variables() -> dict[str, str]:
    """Variable → value of every (also commented-out) assignment in .env.example."""
    text = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    return dict(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", text, flags=re.MULTILINE))


@pytest.mark.parametrize("name", list(PLUGINS))
def test_meltano_yml_declares_exactly_the_plugin_settings(name):
    declared = {s["name"]: s for s in plugin_definition(name)["settings"]}
    properties = about(name)["settings"]["properties"]
    assert set(declared) == set(properties)
    for setting_name, setting in declared.items():
        schema = properties[setting_name]
        assert setting.get("label"), setting_name
        assert setting.get("description"), setting_name
        assert KIND_TYPES[setting["kind"]] & schema_type(schema), setting_name
        secret = bool(schema.get("secret") or schema.get("writeOnly"))
        assert bool(setting.get("sensitive")) == secret, setting_name
        if setting["kind"] == "options":
            assert {o["value"] for o in setting["options"]} == set(schema["enum"]), setting_name
        if "value" in setting and "default" in schema:
            assert setting["value"] == schema["default"], setting_name


@pytest.mark.parametrize("name", list(PLUGINS))
def test_meltano_yml_capabilities_match_about(name):
    assert sorted(plugin_definition(name)["capabilities"]) == sorted(about(name)["capabilities"])


def test_every_variable_meltano_reads_is_in_env_example_and_vice_versa():
    text = (REPO_ROOT / "meltano.yml").read_text(encoding="utf-8")
    aliases = {
        alias
        for name in PLUGINS
        for setting in plugin_definition(name)["settings"]
        for alias in setting.get("env_aliases", [])
    }
    referenced = aliases | set(re.findall(r"\$\{([A-Z0-9_]+)\}", text))
    compose = set(re.findall(r"\$\{([A-Z0-9_]+)", (REPO_ROOT / "docker-compose.yml").read_text()))
    login_source = (REPO_ROOT / "tap-wattivahti" / "tap_wattivahti" / "login.py").read_text()
    login = {"WATTIVAHTI_USERNAME", "WATTIVAHTI_PASSWORD"}
    assert all(variable in login_source for variable in login)
    documented = set(env_example_variables())
    assert referenced <= documented
    assert compose <= documented
    assert documented == referenced | compose | login


def test_env_example_keeps_the_earlier_scripts_variables_and_defaults():
    variables = env_example_variables()
    assert variables["INFLUXDB_URL"] == "http://localhost:8086"
    assert variables["INFLUXDB_ORG"] == "wattivahti"
    assert variables["INFLUXDB_BUCKET"] == "electricity"
    assert variables["REFRESH_TOKEN_FILE"] == "refresh_token.txt"
    assert variables["INITIAL_SYNC_DAYS"] == "7"
    assert variables["SYNC_BUFFER_HOURS"] == "2"
    assert {"INFLUXDB_TOKEN", "WATTIVAHTI_METERING_POINT"} <= set(variables)
    # ... and so do the defaults meltano.yml falls back to when a variable is unset.
    defaults = {
        alias: setting["value"]
        for name in PLUGINS
        for setting in plugin_definition(name)["settings"]
        for alias in setting.get("env_aliases", [])
        if "value" in setting
    }
    assert {k: str(v) for k, v in defaults.items()} == {k: variables[k] for k in defaults}


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command, extra_env = docker_compose_command()
    return subprocess.run(
        [*command, "--project-directory", str(REPO_ROOT), "-f", "docker-compose.yml", *args],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", **extra_env, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_docker_compose_file_is_valid_and_initialises_influxdb_as_before(tmp_path):
    env = {k: v for k, v in env_example_variables().items() if v}
    result = _compose("--profile", "grafana", "config", env=env)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    influxdb = config["services"]["influxdb"]
    assert influxdb["image"] == "influxdb:2.7"
    init = influxdb["environment"]
    assert init["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert init["DOCKER_INFLUXDB_INIT_ORG"] == "wattivahti"
    assert init["DOCKER_INFLUXDB_INIT_BUCKET"] == "electricity"
    assert init["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == env["INFLUXDB_TOKEN"]
    assert influxdb["healthcheck"]["test"] == ["CMD", "influx", "ping"]
    assert any(v.startswith("influxdb-data:") or "influxdb-data" in str(v)
               for v in influxdb["volumes"])  # fmt: skip
    assert "influxdb-data" in config["volumes"]
    grafana = config["services"]["grafana"]
    assert grafana["depends_on"]["influxdb"]["condition"] == "service_healthy"


def test_docker_compose_refuses_to_start_without_a_token():
    env = {k: v for k, v in env_example_variables().items() if v and k != "INFLUXDB_TOKEN"}
    result = _compose("config", env=env)
    assert result.returncode != 0
    assert "set INFLUXDB_TOKEN in .env" in result.stderr


def test_grafana_provisioning_points_at_the_compose_influxdb():
    datasource = yaml.safe_load(
        (REPO_ROOT / "grafana/provisioning/datasources/influxdb.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://influxdb:8086"
    dashboard = json.loads((REPO_ROOT / "grafana/dashboards/electricity.json").read_text())
    queries = [t["query"] for p in dashboard["panels"] for t in p["targets"]]
    written = plugin_definition("target-influxdb")["config"]["measurements"]
    measurements = {written["consumption"], written["daily_totals"]}
    assert measurements == {"electricity_consumption", "electricity_daily"}
    assert all(any(f'r._measurement == "{m}"' in q for m in measurements) for q in queries)
    daily = [q for q in queries if '"electricity_daily"' in q]
    assert any('r._field == "kwh"' in q for q in daily)  # the daily kWh panel
    assert any("not r.complete" in q for q in daily)  # the incomplete days panel
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {datasource["uid"]}
