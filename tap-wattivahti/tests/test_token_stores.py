"""Both token stores (a file; a row of the PostgreSQL token database) under concurrent runs, a
busy lock, kill -9 and signals: one refresh per account at a time, the token never lost."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tap_wattivahti.auth import FileTokenStore, GrantGuard, TokenStore
from tap_wattivahti.errors import TokenError
from tap_wattivahti.token_database import DatabaseTokenStore

from tests.servers import PostgreSQL
from tests.simulator import Fault, Simulator

DAY = {"start_date": "2025-06-10", "end_date": "2025-06-11"}
FAST = {"retry_wait_seconds": 0.05, "max_retries": 3}
ACCOUNT = "flat-1"
METER = "1000001"
STORES = ["file", "database"]


class Fleet:
    """One account of the simulator with its token in a file or in the token database."""

    def __init__(self, sim: Simulator, kind: str, folder: Path, database_uri: str | None) -> None:
        self.sim = sim
        self.kind = kind
        self.token_file = folder / "tokens" / f"{ACCOUNT}.txt"
        self.database_uri = database_uri
        self.first_token = sim.add_account(ACCOUNT, METER)
        if kind == "file":
            self.token_file.parent.mkdir(parents=True)
            self.token_file.write_text(self.first_token + "\n")

    def config(self, **extra: Any) -> dict[str, Any]:
        account: dict[str, Any] = {"name": ACCOUNT, "metering_points": [METER]}
        config: dict[str, Any] = {
            "api_url": self.sim.api_url,
            "token_url": self.sim.token_url,
            "accounts": [account],
            **FAST,
            **DAY,
        }
        if self.kind == "file":
            account["refresh_token_file"] = str(self.token_file)
        else:
            account["refresh_token"] = self.first_token  # seeds the account's row
            config["token_database_uri"] = self.database_uri
        return config | extra

    def store(self) -> TokenStore:
        """The account's store, as the tap opens it."""
        if self.kind == "file":
            return FileTokenStore(self.token_file, account=ACCOUNT)
        assert self.database_uri is not None
        return DatabaseTokenStore(self.database_uri, ACCOUNT, self.first_token)

    def stored(self) -> str:
        return self.store().read()


@pytest.fixture(params=STORES)
def fleet(request, simulator, tmp_path) -> Fleet:
    """The account, once with a token file and once with the token database."""
    uri = None
    if request.param == "database":
        server: PostgreSQL = request.getfixturevalue("postgresql")
        uri = server.uri(request.getfixturevalue("postgres_database"))
    simulator.reuse_revokes_family = True  # a token sent twice would lock the account out
    return Fleet(simulator, request.param, tmp_path, uri)


def wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_two_runs_of_one_account_at_once_refresh_in_turn_and_both_succeed(fleet, start_cli):
    sim = fleet.sim
    sim.inject(
        Fault("delay", target="token", seconds=1.0), Fault("delay", target="token", seconds=1.0)
    )
    config = fleet.config()
    runs = [start_cli(config) for _ in range(2)]
    finished = [run.finish() for run in runs]
    assert [run.returncode for run in finished] == [0, 0], [run.stderr for run in finished]
    assert [len(run.records()) for run in finished] == [96, 96]
    first, second = sim.requests("token")
    assert (first.status, second.status) == (200, 200)
    assert second.at - first.at >= 1.0  # in turn: the second grant began after the first's answer
    # The second run waited, then sent the token the first one had stored: one chain.
    sent = sim.refresh_grants(ACCOUNT)
    assert sent[0] == fleet.first_token
    assert sent[1] not in (fleet.first_token, "")
    assert sim.valid_refresh_tokens(ACCOUNT) == [fleet.stored()]
    assert any("Waiting (at most 120 s" in run.stderr for run in finished)


def test_accounts_of_one_folder_refresh_side_by_side(simulator, start_cli, tmp_path):
    """The lock is per token file: two accounts' files in one folder do not wait for each other."""
    configs = []
    for name, code in (("a", "1000001"), ("b", "1000002")):
        token_file = tmp_path / "tokens" / f"{name}.txt"
        token_file.parent.mkdir(exist_ok=True)
        token_file.write_text(simulator.add_account(name, code) + "\n")
        account = {"name": name, "metering_points": [code], "refresh_token_file": str(token_file)}
        configs.append(
            {"api_url": simulator.api_url, "token_url": simulator.token_url,
             "accounts": [account], **FAST, **DAY}
        )  # fmt: skip
    simulator.inject(*[Fault("delay", target="token", seconds=1.5)] * 2)
    runs = [start_cli(config) for config in configs]
    finished = [run.finish() for run in runs]
    assert [run.returncode for run in finished] == [0, 0], [run.stderr for run in finished]
    first, second = simulator.requests("token")
    assert abs(second.at - first.at) < 1.0  # answered together: neither waited for the other
    assert not any("Waiting" in run.stderr for run in finished)


def test_a_lock_held_too_long_is_named_and_nothing_is_sent(fleet, run_cli):
    holder = fleet.store()
    holder.read()  # the database row exists (seeded) before it is locked
    with holder.locked():
        run = run_cli(fleet.config(token_lock_timeout_seconds=1))
    assert (
        "Waiting (at most 1 s, token_lock_timeout_seconds) for another process to finish "
        f"refreshing the WattiVahti token of account {ACCOUNT}"
    ) in run.stderr
    paragraph = run.error_paragraph()
    assert paragraph.startswith(
        "tap-wattivahti: error: Gave up after waiting 1 s (token_lock_timeout_seconds) for "
        f"another process to finish refreshing the WattiVahti token of account {ACCOUNT}: "
    )
    assert "Nothing was sent to WattiVahti" in paragraph
    if fleet.kind == "file":
        assert f"`fuser -v {fleet.token_file.with_name('.flat-1.txt.lock')}`" in paragraph
    else:
        assert "pg_stat_activity" in paragraph
        assert "pg_terminate_backend" in paragraph
    assert run.records() == []
    assert fleet.sim.requests("token") == []
    assert fleet.stored() == fleet.first_token
    assert fleet.sim.refresh_token_status(fleet.first_token) == "valid"


def test_kill_9_during_the_grant_leaves_a_working_token_and_no_lock(fleet, start_cli, run_cli):
    """Killed while WattiVahti holds the grant (not yet carried out): the stored token is the
    old one, still valid, and the lock died with the process."""
    sim = fleet.sim
    sim.inject(Fault("stall", target="token", seconds=1.0))
    tap = start_cli(fleet.config())
    wait_for(lambda: sim.pending_faults() == 0)  # the grant is at WattiVahti
    tap.process.send_signal(signal.SIGKILL)
    tap.finish()
    wait_for(lambda: len(sim.requests("token")) == 1)  # dropped unhandled: the client is gone
    assert [r.status for r in sim.requests("token")] == [-1]
    assert fleet.stored() == fleet.first_token
    assert sim.refresh_token_status(fleet.first_token) == "valid"
    again = run_cli(fleet.config(token_lock_timeout_seconds=5))
    assert again.returncode == 0, again.stderr
    assert "Waiting" not in again.stderr
    assert len(again.records()) == 96
    assert sim.valid_refresh_tokens(ACCOUNT) == [fleet.stored()]


def test_kill_9_after_the_grant_leaves_the_new_token_stored(fleet, start_cli, run_cli):
    sim = fleet.sim
    sim.inject(Fault("delay", seconds=10.0))  # the first meter request, after the grant
    tap = start_cli(fleet.config())
    wait_for(lambda: sim.pending_faults() == 0)
    tap.process.send_signal(signal.SIGKILL)
    tap.finish()
    rotated = fleet.stored()
    assert rotated != fleet.first_token
    assert sim.valid_refresh_tokens(ACCOUNT) == [rotated]
    again = run_cli(fleet.config())
    assert again.returncode == 0, again.stderr
    assert len(again.records()) == 96
    assert sim.refresh_grants(ACCOUNT) == [fleet.first_token, rotated]


def test_sigterm_during_the_refresh_waits_until_the_new_token_is_stored(fleet, start_cli):
    sim = fleet.sim
    sim.inject(Fault("delay", target="token", seconds=2.0))
    tap = start_cli(fleet.config())
    wait_for(lambda: sim.pending_faults() == 0)
    time.sleep(0.5)  # the grant is in flight: WattiVahti answers (and rotates) in 1.5 s
    tap.process.send_signal(signal.SIGTERM)
    run = tap.finish()
    assert run.returncode == 128 + signal.SIGTERM, run.stderr
    assert [r.status for r in sim.requests("token")] == [200]
    assert sim.refresh_token_status(fleet.first_token) == "used"
    assert sim.valid_refresh_tokens(ACCOUNT) == [fleet.stored()]


# ---------------------------------------------------------------------- the token database
@pytest.fixture
def database(simulator, tmp_path, postgresql, postgres_database) -> Fleet:
    simulator.reuse_revokes_family = True
    return Fleet(simulator, "database", tmp_path, postgresql.uri(postgres_database))


def test_the_token_table_is_created_and_holds_the_live_token(database, run_tap, postgresql):
    run = run_tap(database.config())
    assert len(run.records()) == 96
    columns = postgresql.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'wattivahti_refresh_tokens' ORDER BY ordinal_position",
        database.database_uri.rsplit("/", 1)[1],
    )
    assert columns == [
        ("account", "text", "NO"),
        ("refresh_token", "text", "NO"),
        ("updated_at", "timestamp with time zone", "NO"),
    ]
    rows = postgresql.execute(
        "SELECT account, refresh_token FROM wattivahti_refresh_tokens",
        database.database_uri.rsplit("/", 1)[1],
    )
    assert rows == [(ACCOUNT, database.sim.valid_refresh_tokens(ACCOUNT)[0])]


def test_the_database_wins_over_the_seed(database, run_tap):
    run_tap(database.config())
    stored = database.stored()
    other = dict(database.config())
    other["accounts"] = [
        {**other["accounts"][0], "refresh_token": database.sim.issue_refresh_token(ACCOUNT)}
    ]
    assert len(run_tap(other).records()) == 96
    assert database.sim.refresh_grants(ACCOUNT) == [database.first_token, stored]


def test_an_account_without_a_token_in_the_database_names_the_login_command(database, run_cli):
    config = database.config()
    del config["accounts"][0]["refresh_token"]
    paragraph = run_cli(config).error_paragraph()
    assert f"No WattiVahti refresh token for account {ACCOUNT} in the token database" in paragraph
    assert f"Run `wattivahti-login --account {ACCOUNT}`" in paragraph
    assert database.sim.requests() == []


def test_a_database_user_that_cannot_write_sends_nothing(database, run_tap, run_cli, postgresql):
    run_tap(database.config())  # the table and the row exist
    stored = database.stored()
    name = database.database_uri.rsplit("/", 1)[1]
    postgresql.execute("DROP ROLE IF EXISTS reader")
    postgresql.execute("CREATE ROLE reader LOGIN PASSWORD 'reader'")
    postgresql.execute("GRANT SELECT ON wattivahti_refresh_tokens TO reader", name)
    try:
        reader = database.database_uri.replace("postgres:postgres@", "reader:reader@")
        database.sim.clear_log()
        paragraph = run_cli(database.config(token_database_uri=reader)).error_paragraph()
    finally:
        postgresql.execute("REVOKE ALL ON wattivahti_refresh_tokens FROM reader", name)
        postgresql.execute("DROP ROLE reader")
    assert "permission denied for table wattivahti_refresh_tokens" in paragraph
    assert "needs SELECT, INSERT and UPDATE on wattivahti_refresh_tokens" in paragraph
    assert database.sim.requests("token") == []
    assert database.sim.refresh_token_status(stored) == "valid"


def test_an_unreachable_database_is_one_paragraph_without_the_password(database, run_cli):
    wrong = "postgresql://someone:s3cret-pw-4711@127.0.0.1:1/tokens"
    run = run_cli(database.config(token_database_uri=wrong))
    paragraph = run.error_paragraph()
    assert paragraph.startswith(
        "tap-wattivahti: error: Cannot connect to the token database tokens on 127.0.0.1:1 "
        "(table wattivahti_refresh_tokens, account flat-1): "
    )
    assert "Nothing was sent to WattiVahti" in paragraph
    assert "s3cret-pw-4711" not in run.stderr + run.stdout
    assert database.sim.requests() == []


def test_the_database_store_needs_its_driver_only_when_used(tmp_path):
    """Without token_database_uri the tap never imports psycopg."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"metering_points": ["1"]}))
    code = (
        "import sys; from tap_wattivahti.tap import TapWattiVahti; "
        f"tap = TapWattiVahti(config={str(config)!r}, parse_env_config=False); "
        "tap.authenticator('1'); print('psycopg' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_a_closed_grant_guard_waits_for_the_grant_in_flight_and_lets_no_new_one_begin():
    guard = GrantGuard()
    inside, release, steps = threading.Event(), threading.Event(), []

    def grant() -> None:
        with guard.section():
            inside.set()
            release.wait(10)
            steps.append("token stored")

    worker = threading.Thread(target=grant)
    worker.start()
    inside.wait(10)
    closing = threading.Thread(target=lambda: (guard.close(), steps.append("closed")))
    closing.start()
    time.sleep(0.2)
    assert steps == []  # close() waits for the grant in flight
    release.set()
    closing.join(10)
    worker.join(10)
    assert steps == ["token stored", "closed"]
    refused = pytest.raises(TokenError, match="no refresh grant was sent: the token still works")
    with refused, guard.section():
        pass
