"""Many accounts in one run: exact data with one grant each, requests in parallel within
max_parallel_requests, and one account's failure its own."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.simulator import Fault, Simulator

UTC = timezone.utc
DAY = {"start_date": "2025-06-10", "end_date": "2025-06-11"}
FAST = {"retry_wait_seconds": 0.05, "max_retries": 3}


def make_fleet(sim: Simulator, folder: Path, sizes: list[int]) -> list[dict]:
    """Accounts ``acct-00``, ``acct-01``, … with ``sizes[i]`` new meters each, each account's
    token in its own file; the ``accounts`` list for the tap."""
    codes = (f"{2000000 + n}" for n in itertools.count())
    accounts = []
    for index, size in enumerate(sizes):
        name = f"acct-{index:02d}"
        meters = [next(codes) for _ in range(size)]
        token_file = folder / "tokens" / f"{name}.txt"
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.write_text(sim.add_account(name, *meters) + "\n")
        accounts.append(
            {"name": name, "metering_points": meters, "refresh_token_file": str(token_file)}
        )
    return accounts


def config(sim: Simulator, accounts: list[dict], **extra) -> dict:
    return {
        "api_url": sim.api_url,
        "token_url": sim.token_url,
        "accounts": accounts,
        **FAST,
        **DAY,
        **extra,
    }


def stored_wh(records: list[dict]) -> dict[str, dict[datetime, int]]:
    """Metering point → {UTC instant: Wh} of consumption records."""
    out: dict[str, dict[datetime, int]] = {}
    for record in records:
        instant = datetime.fromisoformat(record["timestamp"])
        out.setdefault(record["metering_point"], {})[instant] = round(record["consumption_wh"])
    return out


def bookmarks(state: dict) -> dict[str, str]:
    partitions = state["bookmarks"]["consumption"]["partitions"]
    return {
        p["context"]["metering_point"]: p["replication_key_value"]
        for p in partitions
        if "replication_key_value" in p
    }


def test_fifty_accounts_of_one_to_three_meters_land_exactly_with_one_grant_each(
    simulator, run_cli, tmp_path
):
    simulator.response_delay = 0.02
    simulator.reuse_revokes_family = True
    accounts = make_fleet(simulator, tmp_path, [1 + i % 3 for i in range(50)])
    run = run_cli(config(simulator, accounts, max_parallel_requests=4))
    assert run.returncode == 0, run.stderr[-3000:]
    start = datetime(2025, 6, 9, 21, tzinfo=UTC)
    stop = datetime(2025, 6, 10, 21, tzinfo=UTC)
    codes = [code for account in accounts for code in account["metering_points"]]
    assert len(codes) == 99
    truth = {code: simulator.truth(code, start, stop) for code in codes}
    assert stored_wh(run.records()) == truth
    assert set(bookmarks(run.state)) == set(codes)
    assert set(bookmarks(run.state).values()) == {"2025-06-10T20:45:00+00:00"}
    grants = {a["name"]: simulator.refresh_grants(a["name"]) for a in accounts}
    assert {name: len(sent) for name, sent in grants.items()} == dict.fromkeys(grants, 1)
    assert len(simulator.requests("meterdata")) == 99
    # I/O only in parallel: records come partition after partition, in the accounts' order.
    order = [code for code, _ in itertools.groupby(r["metering_point"] for r in run.records())]
    assert order == codes
    assert simulator.most_in_flight() <= 4
    assert {simulator.most_in_flight(a["name"]) for a in accounts} == {1}
    for account in accounts:
        stored = Path(account["refresh_token_file"]).read_text().strip()
        assert simulator.valid_refresh_tokens(account["name"]) == [stored]


@pytest.mark.parametrize("workers", [1, 3])
def test_requests_in_flight_stay_within_max_parallel_requests(
    simulator, run_tap, tmp_path, workers
):
    simulator.response_delay = 0.1
    accounts = make_fleet(simulator, tmp_path, [2, 1, 1, 2, 1, 1])
    run = run_tap(config(simulator, accounts, max_parallel_requests=workers))
    assert len(run.records()) == 8 * 96
    most = simulator.most_in_flight()
    assert most <= workers
    assert most >= min(workers, 2)  # the workers are used
    assert {simulator.most_in_flight(a["name"]) for a in accounts} == {1}


def test_a_retry_after_holds_only_its_accounts_next_request(simulator, run_tap, tmp_path):
    accounts = make_fleet(simulator, tmp_path, [2, 1])
    code = accounts[0]["metering_points"][0]
    simulator.inject(Fault("429", retry_after=1, metering_point=code))
    run = run_tap(config(simulator, accounts, max_parallel_requests=2))
    assert len(run.records()) == 3 * 96
    held = [r for r in simulator.requests("meterdata") if r.account == "acct-00"]
    assert [r.status for r in held] == [429, 200, 200]
    assert held[1].received - held[0].at >= 1.0  # Retry-After honoured
    [other] = [r for r in simulator.requests("meterdata") if r.account == "acct-01"]
    assert other.at < held[1].received  # the other account did not wait for it


@pytest.fixture
def earlier_state(simulator, run_tap, tmp_path):
    """Three accounts (two meters in acct-01) synced once up to 2025-06-10 09:00 UTC; then
    more data arrive. Returns the accounts and the state of that first run."""
    accounts = make_fleet(simulator, tmp_path, [1, 2, 1])
    simulator.available_until = datetime(2025, 6, 10, 9, tzinfo=UTC)
    first = run_tap(config(simulator, accounts))
    assert set(bookmarks(first.state).values()) == {"2025-06-10T08:45:00+00:00"}
    simulator.available_until = datetime(2025, 6, 10, 15, tzinfo=UTC)
    simulator.clear_log()
    return accounts, first.state


def assert_only_acct_01_failed(run, accounts, before, paragraph_has: str) -> None:
    """acct-01 failed alone: named, its meters without records and with their old bookmarks;
    the others' data and bookmarks moved on."""
    assert run.returncode == 1, run.stderr
    failed = accounts[1]["metering_points"]
    others = accounts[0]["metering_points"] + accounts[2]["metering_points"]
    paragraph = run.error_paragraph()
    assert paragraph.startswith(
        "tap-wattivahti: error: Account acct-01 failed (the other 2 account(s) completed, and "
        "their data and state were emitted): "
    )
    assert paragraph_has in paragraph
    errors = [line for line in run.stderr.splitlines() if "| ERROR " in line]
    assert len(errors) == 1
    assert (
        f"Account acct-01 failed; its metering point(s) {', '.join(failed)} keep their "
        in (errors[0])
    )
    assert {r["metering_point"] for r in run.records()} == set(others)
    moved = bookmarks(run.state)
    assert {code: moved[code] for code in failed} == {code: before[code] for code in failed}
    assert {moved[code] for code in others} == {"2025-06-10T14:45:00+00:00"}
    for message in run.messages:  # its partitions' state stays as it was, in every STATE
        if message["type"] == "STATE":
            partitions = message["value"]["bookmarks"]["consumption"]["partitions"]
            for partition in partitions:
                if partition["context"]["metering_point"] in failed:
                    assert "totals_from" not in partition


def test_a_dead_token_fails_its_account_alone(simulator, earlier_state, run_cli):
    accounts, state = earlier_state
    dead = Path(accounts[1]["refresh_token_file"]).read_text().strip()
    simulator.expire_refresh_token(dead)
    run = run_cli(config(simulator, accounts), state=state)
    assert_only_acct_01_failed(
        run, accounts, bookmarks(state), "Run `wattivahti-login --account acct-01`"
    )
    # One refused grant: its second meter was not tried with the dead token again.
    assert [r.status for r in simulator.requests("token") if r.account == "acct-01"] == [400]
    assert not [r for r in simulator.requests("meterdata") if r.account == "acct-01"]


def test_an_unknown_metering_point_fails_its_account_alone(simulator, earlier_state, run_cli):
    accounts, state = earlier_state
    simulator.metering_points.pop(accounts[1]["metering_points"][0])
    run = run_cli(config(simulator, accounts), state=state)
    assert_only_acct_01_failed(
        run, accounts, bookmarks(state), "Check that the metering point code is yours"
    )


def test_requests_failing_after_retries_fail_their_account_alone(simulator, earlier_state, run_cli):
    accounts, state = earlier_state
    code = accounts[1]["metering_points"][0]
    simulator.inject(*[Fault("503", metering_point=code)] * 4)  # one try and three retries
    run = run_cli(config(simulator, accounts), state=state)
    assert_only_acct_01_failed(run, accounts, bookmarks(state), "after 4 attempts (HTTP 503")
    assert simulator.pending_faults() == 0


def test_a_token_that_cannot_be_stored_fails_its_account_alone(
    simulator, earlier_state, run_cli, without_write_override
):
    accounts, state = earlier_state
    folder = Path(accounts[1]["refresh_token_file"]).parent / "acct-01"
    folder.mkdir()
    token_file = folder / "acct-01.txt"
    token_file.write_text(Path(accounts[1]["refresh_token_file"]).read_text())
    accounts[1]["refresh_token_file"] = str(token_file)
    folder.chmod(0o500)
    try:
        run = run_cli(config(simulator, accounts), state=state, wrap=without_write_override)
    finally:
        folder.chmod(0o700)
    assert_only_acct_01_failed(run, accounts, bookmarks(state), "Cannot store a new refresh token")
    assert not [r for r in simulator.requests("token") if r.account == "acct-01"]
