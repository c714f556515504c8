"""Several accounts in one tap: the accounts settings, their errors, one token chain each."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from tap_wattivahti.settings import Settings

from tests.readme import README
from tests.simulator import SEED_METERING_POINT, Simulator

DAY = {"start_date": "2025-06-10", "end_date": "2025-06-11"}
FAST = {"retry_wait_seconds": 0.05, "max_retries": 3}


def fleet(sim: Simulator, folder: Path, accounts: dict[str, list[str]]) -> list[dict]:
    """Accounts of new metering points in the simulator, each with a token file holding a
    fresh token of its own chain; the ``accounts`` list for the tap."""
    entries = []
    for name, codes in accounts.items():
        token = sim.add_account(name, *codes)
        token_file = folder / "tokens" / f"{name}.txt"
        token_file.parent.mkdir(parents=True, exist_ok=True)
        token_file.write_text(token + "\n")
        entries.append(
            {"name": name, "metering_points": codes, "refresh_token_file": str(token_file)}
        )
    return entries


def endpoints(sim: Simulator, **extra) -> dict:
    return {"api_url": sim.api_url, "token_url": sim.token_url, **FAST, **DAY, **extra}


@pytest.mark.parametrize("form", ["accounts", "accounts_file"])
def test_each_account_reads_its_meters_with_its_own_token_chain(simulator, run_tap, tmp_path, form):
    accounts = fleet(simulator, tmp_path, {"flat-1": ["1000001"], "flat-2": ["1000002", "1000003"]})
    if form == "accounts":
        config = endpoints(simulator, accounts=accounts)
    else:
        listing = tmp_path / "accounts.json"
        listing.write_text(json.dumps(accounts))
        config = endpoints(simulator, accounts_file=str(listing))
    run = run_tap(config)
    by_meter: dict[str, int] = {}
    for record in run.records():
        by_meter[record["metering_point"]] = by_meter.get(record["metering_point"], 0) + 1
    assert by_meter == {"1000001": 96, "1000002": 96, "1000003": 96}
    assert {code: run.bookmark(code) for code in by_meter} == dict.fromkeys(
        by_meter, "2025-06-10T20:45:00+00:00"
    )
    # One grant per account, each with that account's token; a 404 would have stopped the run
    # if a meter had been asked with the other account's access token.
    assert [len(simulator.refresh_grants(name)) for name in ("flat-1", "flat-2")] == [1, 1]
    assert [r.status for r in simulator.requests("meterdata")] == [200, 200, 200]
    for entry in accounts:
        stored = Path(entry["refresh_token_file"]).read_text().strip()
        assert simulator.valid_refresh_tokens(entry["name"]) == [stored]


def test_settings_know_each_metering_points_account(simulator, tmp_path):
    accounts = fleet(simulator, tmp_path, {"a": ["1000001", "1000002"], "b": ["1000003"]})
    settings = Settings.from_config({"accounts": accounts})
    assert [a.name for a in settings.accounts] == ["a", "b"]
    assert settings.metering_points == ("1000001", "1000002", "1000003")
    assert settings.account_of("1000002").name == "a"
    assert settings.account_of("1000003").refresh_token_file == Path(
        accounts[1]["refresh_token_file"]
    )


def test_the_one_account_settings_are_the_account_default():
    settings = Settings.from_config({"metering_points": ["1234567,7654321"]})
    [account] = settings.accounts
    assert (account.name, account.metering_points) == ("default", ("1234567", "7654321"))
    assert account.refresh_token_file == Path("refresh_token.txt")


def test_an_account_without_a_token_file_gets_one_named_after_it():
    settings = Settings.from_config({"accounts": [{"name": "flat-7", "metering_points": ["1"]}]})
    assert settings.accounts[0].refresh_token_file == Path("refresh_tokens/flat-7.txt")


ONE = [{"name": "a", "metering_points": ["1000001"]}]


@pytest.mark.parametrize(
    ("config", "complaint"),
    [
        (
            {"metering_points": ["1234567"], "accounts": ONE},
            "Both forms of account settings are set: metering_points (the one account) and "
            "accounts (several).",
        ),
        (
            {"refresh_token_file": "mine.txt", "accounts": ONE},
            "Both forms of account settings are set: refresh_token_file",
        ),
        (
            {"accounts": ONE, "accounts_file": "accounts.json"},
            "Both accounts and accounts_file are set",
        ),
        (
            {"accounts": [*ONE, {"name": "b", "metering_points": ["1000002", "1000001"]}]},
            "gives the same metering point to more than one account: 1000001 (a and b)",
        ),
        (
            {"accounts": [*ONE, {"name": "a", "metering_points": ["1000002"]}]},
            "names a more than once: each account needs a name of its own",
        ),
        (
            {"accounts": [{"name": "flat 12", "metering_points": ["1"]}]},
            "entry 1 has the name 'flat 12': an account's name is letters, digits, _ . and -",
        ),
        (
            {"accounts": [{"name": "a", "metering_point": ["1"]}]},
            "entry 1 has the key(s) 'metering_point', which an account does not have",
        ),
        ({"accounts": [{"name": "a"}]}, "account a has no metering_points"),
        (
            {
                "accounts": [
                    {"name": "a", "metering_points": ["1"], "refresh_token_file": "t.txt"},
                    {"name": "b", "metering_points": ["2"], "refresh_token_file": "./t.txt"},
                ]
            },
            "gives the same refresh_token_file to more than one account",
        ),
        ({"accounts_file": "no-such.json"}, "Cannot read the accounts_file"),
        ({"metering_points": ["1"], "token_database_uri": "mysql://x"}, "not a postgresql://"),
    ],
    ids=[
        "both-forms",
        "token-file-and-accounts",
        "accounts-and-file",
        "meter-in-two-accounts",
        "duplicate-name",
        "bad-name",
        "unknown-key",
        "no-meters",
        "shared-token-file",
        "missing-accounts-file",
        "not-a-database-uri",
    ],
)
def test_bad_account_settings_are_one_paragraph_before_any_output(
    simulator, run_cli, config, complaint
):
    run = run_cli(endpoints(simulator, **config))
    assert complaint in run.error_paragraph()
    assert run.stdout == ""  # not even a SCHEMA message
    assert simulator.requests() == []


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("[{'name': 'a'}]", "is not valid JSON (Expecting property name enclosed in double quotes"),
        ('{"name": "a", "metering_points": ["1"]}', "must be a non-empty JSON list of accounts"),
        ("[]", "must be a non-empty JSON list of accounts, each"),
        (b"\xff\xfe[]", "it is not UTF-8 text"),
    ],
    ids=["not-json", "an-object", "empty", "not-text"],
)
def test_a_malformed_accounts_file_is_one_paragraph_naming_it(
    simulator, run_cli, tmp_path, content, complaint
):
    listing = tmp_path / "accounts.json"
    if isinstance(content, bytes):
        listing.write_bytes(content)
    else:
        listing.write_text(content)
    run = run_cli(endpoints(simulator, accounts_file=str(listing)))
    paragraph = run.error_paragraph()
    assert str(listing) in paragraph
    assert complaint in paragraph
    assert run.stdout == ""


def test_an_unreadable_accounts_file_names_the_reason(simulator, run_cli, tmp_path):
    listing = tmp_path / "accounts.json"
    listing.mkdir()  # a folder: even root cannot read it as a file
    paragraph = run_cli(endpoints(simulator, accounts_file=str(listing))).error_paragraph()
    assert f"Cannot read the accounts_file {listing}: Is a directory." in paragraph


def test_accounts_never_show_their_seed_tokens_in_messages(simulator, run_cli):
    secret = simulator.issue_refresh_token()
    accounts = [{"name": "a", "metering_points": ["1"]}, secret, {"refresh_token": 7}]
    run = run_cli(endpoints(simulator, accounts=accounts))
    assert "entry 2 is a str, not an object with name and metering_points" in run.error_paragraph()
    assert secret not in run.stderr + run.stdout
    accounts = [{"name": "a", "metering_points": ["1"], "refresh_token": [secret]}]
    run = run_cli(endpoints(simulator, accounts=accounts))
    assert "account a has a refresh_token that is a list of 1, not text" in run.error_paragraph()
    assert secret not in run.stderr + run.stdout


def test_the_seed_meter_is_unknown_to_another_accounts_token(simulator, run_cli, tmp_path):
    """The simulator keeps accounts apart: a meter listed under the wrong account is refused."""
    accounts = fleet(simulator, tmp_path, {"other": ["1000009"]})
    accounts[0]["metering_points"] = [SEED_METERING_POINT]
    paragraph = run_cli(endpoints(simulator, accounts=accounts)).error_paragraph()
    assert f"metering point {SEED_METERING_POINT}" in paragraph
    assert "HTTP 404" in paragraph


def test_the_readmes_accounts_file_is_valid():
    fleet = README.read_text(encoding="utf-8").split("## Running a fleet", 1)[1]
    [example] = re.findall(r"```json\n(.*?)```", fleet.split("\n## ", 1)[0], re.DOTALL)
    settings = Settings.from_config({"accounts": json.loads(example)})
    assert [(a.name, a.metering_points) for a in settings.accounts] == [
        ("flat-12", ("1234567",)),
        ("flat-14", ("2345678", "3456789")),
    ]
    assert settings.account_of("3456789").refresh_token_file == Path("tokens/flat-14.txt")
