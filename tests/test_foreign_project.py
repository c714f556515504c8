"""Another Meltano project uses the plugins the way the README tells its users to: `meltano init`
in an empty folder, `meltano add --from-ref` with the Hub definition files, `meltano install`,
the README's `.env`, and `meltano run tap-wattivahti target-influxdb` into a real InfluxDB 1.x.
The login command (the definition's `commands`, the same as meltano.yml's) is left out to save a
Meltano start: test_e2e.py runs it through `meltano invoke`; here the token file is seeded.

The definitions install from the project's git repository; here `pip_url` points at the wheels
built from this checkout instead (the README's way to install from a clone), so the test installs
exactly this code, as a package, into plugin environments outside the workspace.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from tests.hub import hub_path
from tests.meltano_project import MeltanoRunner
from tests.readme import README
from tests.simulator import SEED_METERING_POINT, local_midnight_utc

OCTOBER_END = (date(2025, 10, 25), date(2025, 10, 28))


def readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("## Use it from your own Meltano project", 1)[1].split("\n## ", 1)[0]


def readme_env_file() -> dict[str, str]:
    """The `.env` lines the README's section tells the user to write."""
    [block] = re.findall(r"```dotenv\n(.*?)```", readme_section(), flags=re.DOTALL)
    return dict(line.split("=", 1) for line in block.splitlines() if line and line[0] != "#")


def with_pip_url(name: str, pip_url: str, folder: Path) -> Path:
    """A copy of the Hub definition of ``name`` that installs from ``pip_url``."""
    definition = yaml.safe_load(hub_path(name).read_text(encoding="utf-8"))
    definition["pip_url"] = pip_url
    copy = folder / f"{name}.yml"
    copy.write_text(yaml.safe_dump(definition), encoding="utf-8")
    return copy


def test_a_new_meltano_project_adds_installs_and_runs_both_plugins(
    built_packages, simulator, elering, influxdb1, influx_database, tmp_path
):
    project = tmp_path / "my-project"
    project.mkdir()
    token_file = tmp_path / "refresh_token.txt"
    meltano = MeltanoRunner(project, {"MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'm.db'}"})

    def ok(*args: str, **kwargs) -> str:
        result = meltano(*args, **kwargs)
        assert result.returncode == 0, f"meltano {' '.join(args)}:\n{result.output[-5000:]}"
        return result.output

    ok("init", "--no_usage_stats", ".")
    for name, built in built_packages.items():
        definition = with_pip_url(name, str(built.wheel), tmp_path)
        ok("add", "--no-install", "--from-ref", str(definition), name)
    ok("install")
    added = yaml.safe_load((project / "meltano.yml").read_text(encoding="utf-8"))["plugins"]
    assert [p["pip_url"] for p in added["extractors"] + added["loaders"]] == [
        str(built.wheel) for built in built_packages.values()
    ]
    assert "env_aliases" not in (project / "meltano.yml").read_text(encoding="utf-8")

    # The README's .env, with this test's simulator, InfluxDB and files filled in.
    env_file = readme_env_file()
    assert env_file.keys() >= {
        "TAP_WATTIVAHTI_METERING_POINTS",
        "TAP_WATTIVAHTI_REFRESH_TOKEN_FILE",
        "TARGET_INFLUXDB_URL",
        "TARGET_INFLUXDB_DATABASE",
        "TARGET_INFLUXDB_MEASUREMENTS",
    }
    env_file.update(
        TAP_WATTIVAHTI_METERING_POINTS=f'["{SEED_METERING_POINT}"]',
        TAP_WATTIVAHTI_REFRESH_TOKEN_FILE=str(token_file),
        TAP_WATTIVAHTI_API_URL=simulator.api_url,
        TAP_WATTIVAHTI_TOKEN_URL=simulator.token_url,
        TAP_WATTIVAHTI_ELERING_URL=elering.url,  # every stream is selected: spot_prices too
        TAP_WATTIVAHTI_START_DATE=local_midnight_utc(OCTOBER_END[0]).isoformat(),
        TAP_WATTIVAHTI_END_DATE=local_midnight_utc(OCTOBER_END[1]).isoformat(),
        TARGET_INFLUXDB_URL=influxdb1.url,
        TARGET_INFLUXDB_DATABASE=influx_database,
    )
    (project / ".env").write_text("".join(f"{k}={v}\n" for k, v in env_file.items()))

    seeded = simulator.issue_refresh_token()
    token_file.write_text(seeded + "\n", encoding="utf-8")
    simulator.available_until = local_midnight_utc(OCTOBER_END[1])
    ok("run", "tap-wattivahti", "target-influxdb")
    points = influxdb1.points(influx_database, "electricity_consumption")
    start, stop = (local_midnight_utc(day) for day in OCTOBER_END)
    assert len(points) == 3 * 96 + 4
    assert sum(p["consumption_kwh"] for p in points) == pytest.approx(
        simulator.truth_kwh(SEED_METERING_POINT, start, stop), abs=0.001
    )
    rotated = token_file.read_text().strip()
    assert rotated != seeded
    assert simulator.refresh_token_status(rotated) == "valid"
