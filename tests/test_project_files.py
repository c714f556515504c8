"""meltano.yml, .env.example, docker-compose.yml and the plugins' own settings stay in step."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from tap_wattivahti.auth import FileTokenStore

from tests.hub import about
from tests.readme import README
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


SECRETS = ("INFLUXDB_TOKEN", "INFLUXDB_ADMIN_PASSWORD", "GRAFANA_ADMIN_PASSWORD")


def _compose(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`docker-compose` on ``project``'s copy of the compose file, reading its `.env`."""
    command, extra_env = docker_compose_command()
    return subprocess.run(
        [*command, "--project-directory", str(project), "-f", "docker-compose.yml", *args],
        cwd=project,
        env={"PATH": "/usr/bin:/bin", **extra_env},
        capture_output=True,
        text=True,
        check=False,
    )


def _readme_configure_step() -> str:
    """The shell commands of the README's setup step that makes `.env`."""
    blocks = re.findall(r"```bash\n(.*?)\n\s*```", README.read_text(encoding="utf-8"), re.DOTALL)
    [step] = [block for block in blocks if "cp .env.example .env" in block]
    return textwrap.dedent(step)


@pytest.fixture
def configured(tmp_path: Path) -> Path:
    """A copy of the compose project after the README's configure step ($EDITOR does nothing)."""
    for name in (".env.example", "docker-compose.yml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    result = subprocess.run(
        ["bash", "-e", "-c", _readme_configure_step()],
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin", "EDITOR": "true"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return tmp_path


def _dotenv(project: Path) -> dict[str, str]:
    text = (project / ".env").read_text(encoding="utf-8")
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", text, flags=re.MULTILINE))


def _set(project: Path, name: str, value: str) -> None:
    dotenv = project / ".env"
    text, count = re.subn(rf"^{name}=.*$", f"{name}={value}", dotenv.read_text(), flags=re.M)
    assert count == 1, name
    dotenv.write_text(text)


def _publishes(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each published port, in both the short
    syntax docker-compose 1.x prints and the long one of 2.x."""
    published = []
    for port in service["ports"]:
        if isinstance(port, str):
            *host, outside, inside = port.split("/")[0].split(":")
            published.append((":".join(host), int(outside), int(inside)))
        else:
            published.append((port.get("host_ip", ""), int(port["published"]), port["target"]))
    return published


def test_env_example_holds_no_secret_and_says_how_to_make_them():
    variables = env_example_variables()
    assert {name: variables[name] for name in SECRETS} == dict.fromkeys(SECRETS, "")
    text = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    assert text.count("openssl rand -hex 32") >= len(SECRETS)


def test_readme_configure_step_generates_each_secret(configured):
    example = env_example_variables()
    dotenv = _dotenv(configured)
    secrets = [dotenv[name] for name in SECRETS]
    assert all(re.fullmatch(r"[0-9a-f]{64}", secret) for secret in secrets), secrets
    assert len(set(secrets)) == len(SECRETS)
    assert {k: v for k, v in dotenv.items() if k not in SECRETS} == {
        k: v for k, v in example.items() if k in dotenv and k not in SECRETS
    }
    assert stat.S_IMODE((configured / ".env").stat().st_mode) == 0o600


def test_docker_compose_file_is_valid_and_initialises_influxdb_as_before(configured):
    dotenv = _dotenv(configured)
    result = _compose(configured, "--profile", "grafana", "config")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    influxdb = config["services"]["influxdb"]
    assert influxdb["image"] == "influxdb:2.7"
    init = influxdb["environment"]
    assert init["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    assert init["DOCKER_INFLUXDB_INIT_ORG"] == "wattivahti"
    assert init["DOCKER_INFLUXDB_INIT_BUCKET"] == "electricity"
    assert init["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == dotenv["INFLUXDB_TOKEN"]
    assert init["DOCKER_INFLUXDB_INIT_PASSWORD"] == dotenv["INFLUXDB_ADMIN_PASSWORD"]
    assert influxdb["healthcheck"]["test"] == ["CMD", "influx", "ping"]
    assert any(v.startswith("influxdb-data:") or "influxdb-data" in str(v)
               for v in influxdb["volumes"])  # fmt: skip
    assert "influxdb-data" in config["volumes"]
    grafana = config["services"]["grafana"]
    assert grafana["depends_on"]["influxdb"]["condition"] == "service_healthy"
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == dotenv["GRAFANA_ADMIN_PASSWORD"]


def test_docker_compose_publishes_on_loopback_unless_a_bind_address_is_set(configured):
    def publishes() -> dict[str, list[tuple[str, int, int]]]:
        result = _compose(configured, "--profile", "grafana", "config")
        assert result.returncode == 0, result.stderr
        services = yaml.safe_load(result.stdout)["services"]
        return {name: _publishes(service) for name, service in services.items()}

    assert publishes() == {
        "influxdb": [("127.0.0.1", 8086, 8086)],
        "grafana": [("127.0.0.1", 3000, 3000)],
    }
    _set(configured, "BIND_ADDRESS", "192.0.2.10")  # e.g. the machine's address in a LAN
    assert publishes() == {
        "influxdb": [("192.0.2.10", 8086, 8086)],
        "grafana": [("192.0.2.10", 3000, 3000)],
    }


@pytest.mark.parametrize("secret", SECRETS)
def test_docker_compose_refuses_to_start_without_each_secret(configured, secret):
    _set(configured, secret, "")
    result = _compose(configured, "config")
    assert result.returncode != 0
    assert f"set {secret} in .env" in result.stderr


def test_gitignore_covers_the_token_files_and_the_writers_temporary_files(tmp_path):
    tokens = ["refresh_token.txt", "token.txt", "wattivahti.token"]
    temporaries = []
    for name in tokens:
        handle, temporary = FileTokenStore(tmp_path / name)._temporary_file()  # the writer's naming
        os.close(handle)
        temporaries.append(Path(temporary).name)
    names = tokens + temporaries
    result = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "check-ignore", "--no-index", "--verbose", *names],
        capture_output=True,
        text=True,
        check=False,
    )
    ignored = [line.split("\t")[-1] for line in result.stdout.splitlines()]
    assert ignored == names, result.stderr
    assert all(
        name.startswith(f".{token}.") for name, token in zip(temporaries, tokens, strict=True)
    )


def test_grafana_provisioning_points_at_the_compose_influxdb():
    datasource = yaml.safe_load(
        (REPO_ROOT / "grafana/provisioning/datasources/influxdb.yml").read_text()
    )["datasources"][0]
    assert datasource["url"] == "http://influxdb:8086"
    dashboard = json.loads((REPO_ROOT / "grafana/dashboards/electricity.json").read_text())
    queries = [t["query"] for p in dashboard["panels"] for t in p["targets"]]
    written = plugin_definition("target-influxdb")["config"]["measurements"]
    streams = ("consumption", "daily_totals", "spot_prices", "costs", "monthly_bills")
    measurements = {written[stream] for stream in streams}
    assert measurements == {
        "electricity_consumption",
        "electricity_daily",
        "electricity_price",
        "electricity_cost",
        "electricity_bill",
    }
    assert all(any(f'r._measurement == "{m}"' in q for m in measurements) for q in queries)
    daily = [q for q in queries if '"electricity_daily"' in q]
    assert any('r._field == "kwh"' in q for q in daily)  # the daily kWh panel
    assert any("not r.complete" in q for q in daily)  # the incomplete days panel
    prices = [q for q in queries if '"electricity_price"' in q]
    assert prices == [q for q in prices if "r._value / 10.0" in q]  # EUR/MWh → c/kWh
    assert len(prices) == 1
    costs = [q for q in queries if '"electricity_cost"' in q]
    assert [re.findall(r"every: (\w+)", q) for q in costs] == [["1h"], ["1d"]]
    assert all('r.kind == "consumption"' in q for q in costs)
    assert len([q for q in queries if '"electricity_bill"' in q]) == 1
    assert {p["datasource"]["uid"] for p in dashboard["panels"]} == {datasource["uid"]}


# Least privilege in the compose stack: InfluxDB's first start creates a read-only token for
# Grafana and a write-only token for the target (influxdb/docker-entrypoint-initdb.d); Grafana
# reads its token from the shared volume, never the admin token of .env.
INIT_SCRIPT = REPO_ROOT / "influxdb" / "docker-entrypoint-initdb.d" / "create-tokens.sh"
TOKENS = "/var/lib/wattivahti-tokens"


def test_docker_compose_gives_grafana_the_read_only_token_and_never_the_admin_token(configured):
    admin_token = _dotenv(configured)["INFLUXDB_TOKEN"]
    result = _compose(configured, "--profile", "grafana", "config")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    influxdb, grafana = config["services"]["influxdb"], config["services"]["grafana"]

    def mounts(service: dict[str, Any]) -> dict[str, str]:
        """Container path → source (a volume's name, or a host path ending) and mode."""
        found = {}
        for volume in service["volumes"]:
            if isinstance(volume, str):
                source, target, *mode = volume.split(":")
                found[target] = f"{Path(source).name}:{''.join(mode) or 'rw'}"
            else:
                mode = "ro" if volume.get("read_only") else "rw"
                found[volume["target"]] = f"{Path(volume['source']).name}:{mode}"
        return found

    assert mounts(influxdb)[TOKENS] == "influxdb-tokens:rw"
    assert mounts(influxdb)["/docker-entrypoint-initdb.d"] == "docker-entrypoint-initdb.d:ro"
    assert mounts(grafana)[TOKENS] == "influxdb-tokens:ro"
    assert "influxdb-tokens" in config["volumes"]
    assert "INFLUXDB_TOKEN" not in grafana["environment"]
    assert admin_token not in yaml.safe_dump(grafana)
    start = " ".join(grafana["entrypoint"]).replace("$$", "$")  # as compose escapes it
    assert f"INFLUXDB_TOKEN=$(cat {TOKENS}/grafana.token)" in start
    assert start.endswith("exec /run.sh")  # the grafana image's own entrypoint
    provisioned = (REPO_ROOT / "grafana/provisioning/datasources/influxdb.yml").read_text()
    assert provisioned.count("${INFLUXDB_TOKEN}") == 2  # Grafana's variable, both data sources


FAKE_INFLUX = """#!/usr/bin/env python3
import json, os, sys
with open(os.environ["INFLUX_CALLS"], "a") as calls:
    calls.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1:3] == ["bucket", "list"]:
    print("0b0c1d2e3f4a5b6c\\telectricity\\tinfinite\\t168h0m0s\\t0a1b2c3d4e5f6071")
elif sys.argv[1:3] == ["auth", "create"]:
    n = sum(1 for _ in open(os.environ["INFLUX_CALLS"]))
    answer = {"id": f"0{n}", "description": "d", "token": f"tok-{n}-Qw3==", "status": "active"}
    print(json.dumps(answer, indent="\\t"))
"""


def run_init_script(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The init script with a stand-in `influx` CLI (its calls logged) and a tokens folder."""
    (tmp_path / "bin").mkdir(exist_ok=True)
    fake = tmp_path / "bin" / "influx"
    fake.write_text(FAKE_INFLUX)
    fake.chmod(0o755)
    return subprocess.run(
        ["bash", str(INIT_SCRIPT)],
        env={
            "PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin",
            "INFLUX_CALLS": str(tmp_path / "calls"),
            "WATTIVAHTI_TOKENS_DIR": str(tmp_path / "tokens"),
            "DOCKER_INFLUXDB_INIT_ORG": "wattivahti",
            "DOCKER_INFLUXDB_INIT_BUCKET": "electricity",
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
    )


def influx_calls(tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "calls"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("bucket_id", ["0b0c1d2e3f4a5b6c", None], ids=["first-start", "by-hand"])
def test_the_init_script_makes_a_read_only_and_a_write_only_token_for_the_bucket(
    tmp_path, bucket_id
):
    env = {"DOCKER_INFLUXDB_INIT_BUCKET_ID": bucket_id} if bucket_id else {}
    result = run_init_script(tmp_path, **env)

    assert result.returncode == 0, result.stderr
    creates = [call for call in influx_calls(tmp_path) if call[:2] == ["auth", "create"]]
    assert [call[2:6] for call in creates] == [
        ["--org", "wattivahti", "--read-bucket", "0b0c1d2e3f4a5b6c"],
        ["--org", "wattivahti", "--write-bucket", "0b0c1d2e3f4a5b6c"],
    ]
    assert all("--json" in call and "--all-access" not in call for call in creates)
    looked_up = [call for call in influx_calls(tmp_path) if call[:2] == ["bucket", "list"]]
    assert len(looked_up) == (0 if bucket_id else 1)
    tokens = tmp_path / "tokens"
    grafana, target = tokens / "grafana.token", tokens / "target-influxdb.token"
    assert grafana.read_text() == f"tok-{1 + len(looked_up)}-Qw3=="  # no newline
    assert target.read_text() == f"tok-{2 + len(looked_up)}-Qw3=="
    assert stat.S_IMODE(grafana.stat().st_mode) == 0o644  # Grafana runs as its own user
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert "Qw3" not in result.stdout + result.stderr  # no token in the container's log
    assert sorted(path.name for path in tokens.iterdir()) == [
        "grafana.token",
        "target-influxdb.token",
    ]


def test_the_init_script_run_again_keeps_the_tokens_it_made(tmp_path):
    env = {"DOCKER_INFLUXDB_INIT_BUCKET_ID": "0b0c1d2e3f4a5b6c"}
    assert run_init_script(tmp_path, **env).returncode == 0
    before = {p.name: p.read_text() for p in (tmp_path / "tokens").iterdir()}
    again = run_init_script(tmp_path, **env)

    assert again.returncode == 0, again.stderr
    assert {p.name: p.read_text() for p in (tmp_path / "tokens").iterdir()} == before
    assert len([c for c in influx_calls(tmp_path) if c[:2] == ["auth", "create"]]) == 2


def test_the_init_script_is_executable_as_the_influxdb_image_requires():
    """The image runs /docker-entrypoint-initdb.d/*.sh files that are executable."""
    assert os.access(INIT_SCRIPT, os.X_OK)
    listed = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "ls-files", "-s", str(INIT_SCRIPT)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert listed.startswith("100755 ")
