"""Running a fleet, end to end (README, "Running a fleet"): the real `meltano run` on the shipped
project with the tap's postgres extra, Meltano's system database and the token database on a
real PostgreSQL, accounts from an accounts file, two copies of the project as two machines."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.fixtures import installed_once
from tests.meltano_project import MELTANO, STATE_ID, MeltanoRunner, base_environment, make_project
from tests.readme import README
from tests.servers import InfluxDB1, PostgreSQL
from tests.simulator import Fault, Simulator

UTC = timezone.utc
START = datetime(2025, 6, 9, 21, tzinfo=UTC)  # local midnight, 2025-06-10
STOP = datetime(2025, 6, 10, 21, tzinfo=UTC)
WINDOW = {
    "TAP_WATTIVAHTI_START_DATE": START.isoformat(),
    "TAP_WATTIVAHTI_END_DATE": STOP.isoformat(),
}
#: The README's one change for a fleet: the tap with its postgres extra.
FLEET_PIP_URL = "pip_url: -e './tap-wattivahti[postgres]'"


def fleet_copy(folder: Path, installed: Path | None = None) -> Path:
    """A copy of the shipped project with the README's pip_url change; with ``installed``, its
    plugins are that copy's (a second machine with the same install)."""
    assert "`pip_url` in `meltano.yml` to `-e './tap-wattivahti[postgres]'`" in " ".join(
        README.read_text(encoding="utf-8").split()
    )
    project = make_project(folder, plugins_from=installed)
    text = (project / "meltano.yml").read_text(encoding="utf-8")
    changed = text.replace("pip_url: -e ./tap-wattivahti\n", FLEET_PIP_URL + "\n", 1)
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


def assert_no_token_sent_twice(sim: Simulator) -> None:
    sent = sim.refresh_grants(status=200) + sim.refresh_grants(status=400)
    assert len(sent) == len(set(sent)), "a refresh token was sent twice"


def test_meltano_keeps_state_and_runs_in_postgresql(fleet):
    listing = fleet.accounts_file("accounts.json", {"a": ["3000001"], "b": ["3000002", "3000003"]})
    result = fleet.machines[0].run_pipeline(env={"WATTIVAHTI_ACCOUNTS_FILE": listing})
    assert result.returncode == 0, result.output[-5000:]
    assert fleet.stored() == fleet.truth(["3000001", "3000002", "3000003"])
    [(state_id, completed)] = fleet.sql("SELECT state_id, completed_state::text FROM state")
    assert state_id == STATE_ID
    assert "3000003" in completed
    assert fleet.sql("SELECT state FROM runs") == [("SUCCESS",)]
    assert set(fleet.machines[1].bookmarks()) == {"3000001", "3000002", "3000003"}  # shared
    assert fleet.tokens() == {name: fleet.sim.valid_refresh_tokens(name)[0] for name in "ab"}


def test_a_dead_token_fails_its_account_alone_through_meltano_run(fleet):
    listing = fleet.accounts_file(
        "accounts.json", {"flat-1": ["3000011"], "flat-2": ["3000012"], "flat-3": ["3000013"]}
    )
    machine = fleet.machines[0]
    env = {"WATTIVAHTI_ACCOUNTS_FILE": listing}
    seeds = json.loads(Path(listing).read_text())
    fleet.sim.expire_refresh_token(seeds[1]["refresh_token"])
    result = machine.run_pipeline(env=env)
    assert result.returncode != 0
    assert (
        "Account flat-2 failed (the other 2 account(s) completed, and their data and state were "
        "emitted): WattiVahti refused the refresh token"
    ) in result.output
    assert "Run `wattivahti-login --account flat-2`" in result.output
    assert fleet.stored() == fleet.truth(["3000011", "3000013"])
    assert set(machine.bookmarks()) == {"3000011", "3000013"}


def test_the_same_state_id_on_two_machines_at_once_never_doubles_a_grant(fleet):
    accounts = {f"flat-{n}": [f"30001{n:02d}"] for n in range(4)}
    listing = fleet.accounts_file("accounts.json", accounts)
    fleet.sim.inject(*[Fault("delay", target="token", seconds=0.5)] * 8)  # grants overlap
    env = {"WATTIVAHTI_ACCOUNTS_FILE": listing}
    runs = [machine.popen("run", "tap-wattivahti", "target-influxdb", env=env)
            for machine in fleet.machines]  # fmt: skip
    outputs = [run.communicate(timeout=600) for run in runs]
    codes = [run.returncode for run in runs]
    refused = [
        "pipeline is already running" in out + err for (out, err) in outputs
    ]  # Meltano's check saw the other run
    assert all(code == 0 or refusal for code, refusal in zip(codes, refused, strict=True)), outputs
    assert 0 in codes
    assert_no_token_sent_twice(fleet.sim)
    assert not fleet.sim.refresh_grants(status=400)
    for name in accounts:
        assert fleet.sim.valid_refresh_tokens(name) == [fleet.tokens()[name]]
    codes_all = [code for codes_ in accounts.values() for code in codes_]
    assert fleet.stored() == fleet.truth(codes_all)
    # And the next run, on either machine, works with the tokens in the database.
    again = fleet.machines[1].run_pipeline(env=env)
    assert again.returncode == 0, again.output[-5000:]


def test_shards_on_two_machines_run_side_by_side_and_both_land_exactly(fleet):
    shard_a = fleet.accounts_file("shard-a.json", {"a1": ["3000201"], "a2": ["3000202"]})
    shard_b = fleet.accounts_file("shard-b.json", {"b1": ["3000301", "3000302"]})
    runs = [
        machine.popen(
            "run", "--state-id-suffix", shard, "tap-wattivahti", "target-influxdb",
            env={"WATTIVAHTI_ACCOUNTS_FILE": listing},
        )
        for machine, shard, listing in zip(
            fleet.machines, ("shard-a", "shard-b"), (shard_a, shard_b), strict=True
        )
    ]  # fmt: skip
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert fleet.stored() == fleet.truth(["3000201", "3000202", "3000301", "3000302"])
    machine = fleet.machines[0]
    assert set(machine.bookmarks(f"{STATE_ID}:shard-a")) == {"3000201", "3000202"}
    assert set(machine.bookmarks(f"{STATE_ID}:shard-b")) == {"3000301", "3000302"}
    assert_no_token_sent_twice(fleet.sim)
    assert {r.account for r in fleet.sim.requests("token")} == {"a1", "a2", "b1"}


def test_login_through_meltano_stores_one_accounts_first_token_in_the_database(fleet):
    listing = fleet.accounts_file("accounts.json", {"flat-1": ["3000401"]})
    accounts = json.loads(Path(listing).read_text())
    fleet.sim.add_account("flat-2", "3000402", username="flat2@example.com")
    accounts.append({"name": "flat-2", "metering_points": ["3000402"]})  # no token yet
    Path(listing).write_text(json.dumps(accounts))
    env = {
        "WATTIVAHTI_ACCOUNTS_FILE": listing,
        "WATTIVAHTI_USERNAME": "flat2@example.com",
        "WATTIVAHTI_PASSWORD": fleet.sim.password,
    }
    machine = fleet.machines[1]
    login = machine("invoke", "tap-wattivahti:login", "--account", "flat-2", env=env)
    assert login.returncode == 0, login.output[-3000:]
    assert "Logged in (account flat-2)" in login.output
    assert "(table wattivahti_refresh_tokens, account flat-2)" in login.output
    assert fleet.sim.password not in login.output
    stored = fleet.tokens()["flat-2"]
    assert fleet.sim.account_of_token(stored) == "flat-2"
    assert stored not in login.output
    result = machine.run_pipeline(env={"WATTIVAHTI_ACCOUNTS_FILE": listing})
    assert result.returncode == 0, result.output[-5000:]
    assert fleet.stored() == fleet.truth(["3000401", "3000402"])
