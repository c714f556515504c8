"""Running a fleet, end to end (README, "Running a fleet"): the real `meltano run` on the shipped
project with the tap's postgres extra, Meltano's system database and the token database on a
real PostgreSQL, accounts from an accounts file, two copies of the project as two machines."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.meltano_project import MELTANO, STATE_ID
from tests.servers import REPO_ROOT
from tests.simulator import Fault, Simulator


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


def test_shards_that_start_together_on_one_machine_both_land_exactly(fleet):
    """The DAG's command (orchestrate/run_shard) gives each shard its own run folder: two shards
    started at the same moment in one project folder do not read each other's catalog or state."""
    machine = fleet.machines[0]
    shards = {
        "shard-c": fleet.accounts_file("shard-c.json", {"c1": ["3000401"], "c2": ["3000402"]}),
        "shard-d": fleet.accounts_file("shard-d.json", {"d1": ["3000403", "3000404"]}),
    }
    runs = [
        subprocess.Popen(
            [str(REPO_ROOT / "orchestrate" / "run_shard")],
            env=machine.environment(
                WATTIVAHTI_SHARD=shard, WATTIVAHTI_ACCOUNTS_FILE=listing,
                WATTIVAHTI_PROJECT_DIR=str(machine.project), WATTIVAHTI_MELTANO=MELTANO,
            ),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for shard, listing in shards.items()
    ]  # fmt: skip
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [o[-4000:] for o in outputs]
    assert fleet.stored() == fleet.truth(["3000401", "3000402", "3000403", "3000404"])
    landed = fleet.bookmarks()
    assert set(landed[f"{STATE_ID}:shard-c"]) == {"3000401", "3000402"}
    assert set(landed[f"{STATE_ID}:shard-d"]) == {"3000403", "3000404"}
    assert_no_token_sent_twice(fleet.sim)


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
