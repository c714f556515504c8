"""The fleet of the README's "Running a fleet" for end-to-end tests: the shipped project with the
tap's postgres extra, installed once and copied as two "machines", sharing Meltano's system database
and the token database on a real PostgreSQL, with accounts in the WattiVahti simulator
(tests/test_e2e_fleet.py, tests/test_airflow.py). Registered as a plugin in the root conftest."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.fixtures import installed_once
from tests.meltano_project import (
    MELTANO,
    MeltanoRunner,
    base_environment,
    make_project,
    partition_bookmarks,
)
from tests.readme import README
from tests.servers import InfluxDB1, PostgreSQL
from tests.simulator import Simulator

UTC = timezone.utc
START = datetime(2025, 6, 9, 21, tzinfo=UTC)  # local midnight, 2025-06-10
STOP = datetime(2025, 6, 10, 21, tzinfo=UTC)
WINDOW = {
    "TAP_WATTIVAHTI_START_DATE": START.isoformat(),
    "TAP_WATTIVAHTI_END_DATE": STOP.isoformat(),
}
#: The README's one change for a fleet: the tap with its postgres extra.
FLEET_PIP_URL = "pip_url: './tap-wattivahti[postgres]'"


def fleet_copy(folder: Path, installed: Path | None = None) -> Path:
    """A copy of the shipped project with the README's pip_url change; with ``installed``, its
    plugins are that copy's (a second machine with the same install)."""
    assert "`pip_url` in `meltano.yml` to `'./tap-wattivahti[postgres]'`" in " ".join(
        README.read_text(encoding="utf-8").split()
    )
    project = make_project(folder, plugins_from=installed)
    text = (project / "meltano.yml").read_text(encoding="utf-8")
    changed = text.replace("pip_url: ./tap-wattivahti\n", FLEET_PIP_URL + "\n", 1)
    assert changed != text
    (project / "meltano.yml").write_text(changed, encoding="utf-8")
    return project


def install_fleet_plugins(folder: Path) -> subprocess.CompletedProcess[str]:
    """A fleet project in ``folder`` with the two plugins a fleet machine runs installed."""
    return subprocess.run(
        [MELTANO, "install", "tap-wattivahti", "target-influxdb"],
        cwd=fleet_copy(folder), env=base_environment(),
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip


@pytest.fixture(scope="session")
def fleet_projects(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two copies of the fleet project, both running the plugins of a third copy, installed
    once for the whole test run (two machines with the same install)."""
    installed = installed_once(tmp_path_factory, "fleet-installed", install_fleet_plugins)
    return (
        fleet_copy(tmp_path_factory.mktemp("machine-a"), installed),
        fleet_copy(tmp_path_factory.mktemp("machine-b"), installed),
    )


class Fleet:
    """Accounts in the simulator, the shared databases, and a runner per machine."""

    def __init__(
        self,
        sim: Simulator,
        projects: tuple[Path, Path],
        postgresql: PostgreSQL,
        database: str,
        influxdb1: InfluxDB1,
        influx_database: str,
        folder: Path,
        elering_url: str,
    ) -> None:
        self.sim = sim
        self.folder = folder
        self.influx = influxdb1
        self.influx_database = influx_database
        self.env = {
            "MELTANO_DATABASE_URI": postgresql.uri(database, "postgresql+psycopg"),
            "WATTIVAHTI_TOKEN_DATABASE_URI": postgresql.uri(database),
            "TAP_WATTIVAHTI_API_URL": sim.api_url,
            "TAP_WATTIVAHTI_TOKEN_URL": sim.token_url,
            "TAP_WATTIVAHTI_ELERING_URL": elering_url,
            "TAP_WATTIVAHTI_RETRY_WAIT_SECONDS": "0",
            "INFLUXDB_URL": influxdb1.url,
            "TARGET_INFLUXDB_API_VERSION": "v1",
            "TARGET_INFLUXDB_DATABASE": influx_database,
            **WINDOW,
        }
        self.machines = [MeltanoRunner(project, dict(self.env)) for project in projects]
        self.postgresql = postgresql
        self.database = database

    def accounts_file(self, name: str, accounts: dict[str, list[str]]) -> str:
        """A new accounts file ``name`` of new accounts (each seeded with a fresh token)."""
        listing = [
            {
                "name": account,
                "metering_points": codes,
                "refresh_token": self.sim.add_account(account, *codes),
            }
            for account, codes in accounts.items()
        ]
        path = self.folder / name
        path.write_text(json.dumps(listing), encoding="utf-8")
        return str(path)

    def stored(self) -> dict[str, dict[datetime, float]]:
        """Metering point → {UTC instant: Wh} stored in InfluxDB."""
        out: dict[str, dict[datetime, float]] = {}
        for point in self.influx.points(self.influx_database, "electricity_consumption"):
            instant = datetime.fromtimestamp(point["time"], UTC)
            out.setdefault(point["metering_point"], {})[instant] = point["consumption_wh"]
        return out

    def truth(self, codes: list[str]) -> dict[str, dict[datetime, float]]:
        return {
            code: {i: float(wh) for i, wh in self.sim.truth(code, START, STOP).items()}
            for code in codes
        }

    def tokens(self) -> dict[str, str]:
        """Account → the refresh token in the token database."""
        rows = self.postgresql.execute(
            "SELECT account, refresh_token FROM wattivahti_refresh_tokens", self.database
        )
        return dict(rows)

    def bookmarks(self) -> dict[str, dict[str, str]]:
        """State ID → {metering point: consumption bookmark}, from the system database in one
        query (rather than a `meltano state get` per state ID)."""
        rows = self.sql("SELECT state_id, completed_state::text FROM state")
        return {state_id: partition_bookmarks(json.loads(text)) for state_id, text in rows}

    def sql(self, query: str) -> list[tuple]:
        return self.postgresql.execute(query, self.database)


@pytest.fixture
def fleet(
    simulator, elering, fleet_projects, postgresql, postgres_database, influxdb1, influx_database,
    tmp_path,
) -> Fleet:  # fmt: skip
    simulator.reuse_revokes_family = True  # a token sent twice would lock its account out
    made = Fleet(
        simulator, fleet_projects, postgresql, postgres_database, influxdb1, influx_database,
        tmp_path, elering.url,
    )  # fmt: skip
    # Meltano creates its tables on first use: once, before machines start side by side.
    assert made.machines[0]("state", "list").returncode == 0
    return made
