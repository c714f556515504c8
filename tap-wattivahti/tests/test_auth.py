"""The rotating refresh token: file store, one refresh per run, 401s, faults, separate processes."""

from __future__ import annotations

import json
import logging
import signal
import stat
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from tap_wattivahti.auth import FileTokenStore, TokenEndpoint, WattiVahtiAuthenticator
from tap_wattivahti.errors import TapWattiVahtiError, TokenError

from tests.simulator import API_SCOPE, CLIENT_ID, Fault, Simulator

UTC = timezone.utc
DAY = {"start_date": "2025-06-10", "end_date": "2025-06-11"}


def assert_only_token_and_lock(token_file: Path) -> None:
    """The token's folder holds the token and its (empty, private) lock file: no temporary
    file is left."""
    lock = token_file.with_name(f".{token_file.name}.lock")
    assert sorted(p.name for p in token_file.parent.iterdir()) == sorted(
        [token_file.name, lock.name]
    )
    assert lock.read_bytes() == b""
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600


def test_token_file_wins_over_the_refresh_token_setting(tap_config, run_tap, simulator, token_file):
    in_file = simulator.issue_refresh_token()
    token_file.parent.mkdir(parents=True)
    token_file.write_text(in_file + "\n")
    config = tap_config(**DAY)
    setting = config["refresh_token"]
    assert len(run_tap(config).records()) == 96
    assert simulator.refresh_token_status(in_file) == "used"
    assert simulator.refresh_token_status(setting) == "valid"  # never sent
    assert token_file.read_text().strip() not in (in_file, setting)


@pytest.mark.parametrize("existing", [None, "", "\n"])
def test_refresh_token_setting_seeds_a_missing_or_empty_file_private_to_the_user(
    tap_config, run_tap, simulator, token_file, existing
):
    if existing is not None:
        token_file.parent.mkdir(parents=True)
        token_file.write_text(existing)
    config = tap_config(**DAY)
    run_tap(config)
    assert simulator.refresh_token_status(config["refresh_token"]) == "used"
    stored = token_file.read_text().strip()
    assert simulator.valid_refresh_tokens() == [stored]
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert_only_token_and_lock(token_file)


def test_rotated_token_is_on_disk_before_the_access_token_is_used(
    tap_config, run_tap, simulator, token_file
):
    simulator.inject(Fault("delay", seconds=1.0))  # holds the first meterdata request
    config = tap_config(**DAY)
    seen: dict[str, object] = {}

    def watch() -> None:
        deadline = time.monotonic() + 10
        while simulator.pending_faults() and time.monotonic() < deadline:
            time.sleep(0.01)
        # The first request that carries an access token is now being answered.
        seen["file"] = token_file.read_text().strip()
        seen["valid"] = simulator.valid_refresh_tokens()

    watcher = threading.Thread(target=watch)
    watcher.start()
    run = run_tap(config)
    watcher.join()
    assert seen["valid"] == [seen["file"]]
    assert simulator.refresh_token_status(config["refresh_token"]) == "used"
    assert len(run.records()) == 96


def test_one_refresh_per_run_and_one_more_after_a_401(tap_config, run_tap, simulator):
    run = run_tap(tap_config(start_date="2025-03-01", end_date="2025-06-01"))
    assert len(simulator.requests("meterdata")) == 3
    assert len(simulator.requests("token")) == 1
    simulator.clear_log()
    simulator.inject(Fault("401"))
    again = run_tap(tap_config(**DAY))
    assert [r.status for r in simulator.requests("meterdata")] == [401, 200]
    assert len(simulator.requests("token")) == 2
    assert len(again.records()) == 96
    assert run.bookmark("1234567") == "2025-05-31T20:45:00+00:00"


def test_a_second_401_in_a_row_stops_with_a_clear_error(tap_config, run_tap, simulator):
    simulator.inject(Fault("401"), Fault("401"))
    with pytest.raises(TapWattiVahtiError, match="401 Unauthorized for metering point 1234567"):
        run_tap(tap_config(**DAY))
    assert len(simulator.requests("token")) == 2


def test_access_token_is_refreshed_only_when_it_expires(tmp_path):
    with Simulator(access_token_lifetime=1) as sim:
        store = FileTokenStore(tmp_path / "token.txt", sim.issue_refresh_token())
        endpoint = TokenEndpoint(sim.token_url, CLIENT_ID, API_SCOPE, 60, 2)
        auth = WattiVahtiAuthenticator(store, endpoint, logging.getLogger("t"))
        first = auth.access_token()
        assert auth.access_token() == first
        assert len(sim.requests("token")) == 1
        time.sleep(1.0)  # expires_in 1 s, less a 10 % margin
        assert auth.access_token() != first
        assert len(sim.requests("token")) == 2
        assert sim.valid_refresh_tokens() == [store.read()]


def test_token_endpoint_429_and_503_are_retried(tap_config, run_tap, simulator):
    simulator.inject(Fault("503", target="token"), Fault("429", target="token", retry_after=0))
    run = run_tap(tap_config(**DAY))
    assert [r.status for r in simulator.requests("token")] == [503, 429, 200]
    assert len(run.records()) == 96


def test_dropped_refresh_is_not_retried_and_the_next_run_still_works(
    tap_config, run_tap, simulator, token_file
):
    simulator.inject(Fault("drop", target="token"))
    config = tap_config(**DAY)
    with pytest.raises(TokenError, match="may have used up the refresh token") as failure:
        run_tap(config)
    assert "Run the tap again" in str(failure.value)
    assert len(simulator.requests("token")) == 1  # no blind retry
    assert token_file.read_text().strip() == config["refresh_token"]
    assert len(run_tap(config).records()) == 96


def test_invalid_grant_says_expired_or_used_and_names_the_login_command(
    tap_config, run_cli, simulator, token_file
):
    used = simulator.issue_refresh_token()
    simulator.expire_refresh_token(used)
    token_file.parent.mkdir(parents=True)
    token_file.write_text(used)
    run = run_cli(tap_config(**DAY))
    paragraph = run.error_paragraph()
    assert paragraph.startswith("tap-wattivahti: error: WattiVahti refused the refresh token: ")
    assert "has expired or was already used (AADB2C90080" in paragraph
    assert "Run `wattivahti-login`" in paragraph
    assert run.records() == []


def test_missing_token_names_the_files_absolute_path_and_the_login_command(
    simulator, run_cli, tmp_path
):
    config = {
        "metering_points": ["1234567"],
        "api_url": simulator.api_url,
        "token_url": simulator.token_url,
        "refresh_token_file": "no/such/refresh_token.txt",
        **DAY,
    }
    paragraph = run_cli(config).error_paragraph()
    assert str(tmp_path / "no" / "such" / "refresh_token.txt") in paragraph  # cwd is tmp_path
    assert "does not exist" in paragraph
    assert "Run `wattivahti-login`" in paragraph
    assert simulator.requests("token") == []
    assert not (tmp_path / "no").exists()


def test_three_tap_processes_in_a_row_against_strict_rotation(tap_config, run_cli, simulator):
    simulator.available_until = datetime(2025, 6, 10, 6, tzinfo=UTC)
    config = tap_config(**DAY)
    state = None
    bookmarks = []
    for hour in (6, 9, 12):
        simulator.available_until = datetime(2025, 6, 10, hour, tzinfo=UTC)
        run = run_cli(config, state=state)
        assert run.returncode == 0, run.stderr
        state = run.state
        bookmarks.append(run.bookmark("1234567"))
    assert bookmarks == [
        "2025-06-10T05:45:00+00:00",
        "2025-06-10T08:45:00+00:00",
        "2025-06-10T11:45:00+00:00",
    ]
    tokens = [r.params["refresh_token"] for r in simulator.requests("token")]
    assert len(tokens) == 3
    assert len(set(tokens)) == 3
    assert [simulator.refresh_token_status(t) for t in tokens] == ["used"] * 3
    stored = Path(config["refresh_token_file"]).read_text().strip()
    assert simulator.valid_refresh_tokens() == [stored]


def test_overlapping_runs_share_the_token_file_without_losing_it(
    tap_config, simulator, tmp_path, token_file
):
    simulator.inject(Fault("delay", target="token", seconds=1.0))
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(tap_config(**DAY)))
    command = [sys.executable, "-m", "tap_wattivahti", "--config", str(config_path)]
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    assert [out.count('"type":"RECORD","stream":"consumption"') for out, _ in outputs] == [96, 96]
    assert [r.status for r in simulator.requests("token")] == [200, 200]
    assert simulator.valid_refresh_tokens() == [token_file.read_text().strip()]


def test_a_token_that_could_not_be_stored_is_never_sent(
    tap_config, run_cli, simulator, token_file, without_write_override
):
    token = simulator.issue_refresh_token()
    token_file.parent.mkdir(parents=True)
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    token_file.parent.chmod(0o500)  # readable, not writable
    try:
        run = run_cli(tap_config(**DAY), wrap=without_write_override)
    finally:
        token_file.parent.chmod(0o700)
    paragraph = run.error_paragraph()
    assert (
        f"Cannot store a new refresh token in the folder {token_file.parent}: Permission denied. "
        f"Nothing was sent to WattiVahti: a token in {token_file} is not used up and still works."
    ) in paragraph
    assert f"`chmod u+w {token_file.parent}`" in paragraph
    assert simulator.requests("token") == []
    assert simulator.refresh_token_status(token) == "valid"
    assert token_file.read_text().strip() == token
    assert [p.name for p in token_file.parent.iterdir()] == [token_file.name]
    assert run.records() == []


def test_sigterm_during_the_refresh_waits_until_the_new_token_is_stored(
    tap_config, start_cli, simulator, token_file
):
    simulator.inject(Fault("delay", target="token", seconds=2.0))
    config = tap_config(**DAY)
    tap = start_cli(config)
    deadline = time.monotonic() + 60
    while simulator.pending_faults() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not simulator.pending_faults(), "the tap never asked for a token"
    time.sleep(0.5)  # the grant is in flight: WattiVahti answers (and rotates) in 1.5 s
    tap.process.send_signal(signal.SIGTERM)
    run = tap.finish()
    assert run.returncode == 128 + signal.SIGTERM, run.stderr
    assert "Stopped by SIGTERM before the sync finished: exiting with status 143" in run.stderr
    assert "Traceback" not in run.stderr
    assert [r.status for r in simulator.requests("token")] == [200]
    assert simulator.refresh_token_status(config["refresh_token"]) == "used"
    assert simulator.valid_refresh_tokens() == [token_file.read_text().strip()]
    assert run.records() == []


def test_sigterm_outside_the_refresh_stops_the_tap_with_a_failing_status(
    tap_config, start_cli, simulator, token_file
):
    simulator.inject(Fault("delay", seconds=10.0))
    tap = start_cli(tap_config(**DAY))
    deadline = time.monotonic() + 60
    while simulator.pending_faults() and time.monotonic() < deadline:
        time.sleep(0.01)
    tap.process.send_signal(signal.SIGTERM)  # while the tap waits for its first answer
    run = tap.finish()
    assert run.returncode == 128 + signal.SIGTERM, run.stderr
    assert "Stopped by SIGTERM before the sync finished" in run.stderr
    assert "Traceback" not in run.stderr
    assert run.records() == []
    assert simulator.valid_refresh_tokens() == [token_file.read_text().strip()]


def test_a_symlinked_token_file_is_updated_at_its_target(tap_config, run_tap, simulator, tmp_path):
    real = tmp_path / "vault" / "wattivahti.token"
    real.parent.mkdir()
    original = simulator.issue_refresh_token()
    real.write_text(original + "\n")
    link = tmp_path / "project" / "refresh_token.txt"
    link.parent.mkdir()
    link.symlink_to(real)
    run = run_tap(tap_config(refresh_token_file=str(link), **DAY))
    assert len(run.records()) == 96
    assert link.is_symlink()
    assert link.resolve() == real
    assert simulator.refresh_token_status(original) == "used"
    assert simulator.refresh_token_status(real.read_text().strip()) == "valid"
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert_only_token_and_lock(real)  # the lock file is beside the target
    assert [p.name for p in link.parent.iterdir()] == [link.name]


def test_a_token_file_that_is_not_text_is_a_clear_error(tap_config, run_cli, simulator, token_file):
    token_file.parent.mkdir(parents=True)
    token_file.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    paragraph = run_cli(tap_config(**DAY)).error_paragraph()
    assert paragraph.startswith(
        f"tap-wattivahti: error: The refresh token file {token_file} does not hold a refresh "
        f"token: it contains bytes that are not text (UTF-8)"
    )
    assert "Run `wattivahti-login`" in paragraph
    assert simulator.requests("token") == []


def test_a_failing_token_endpoint_says_so_and_the_token_stays_usable(
    tap_config, run_cli, run_tap, simulator, token_file
):
    simulator.inject(Fault("500", target="token"))
    config = tap_config(**DAY)
    paragraph = run_cli(config).error_paragraph()
    assert paragraph.startswith(
        "tap-wattivahti: error: The WattiVahti token endpoint is failing: it answered the "
        "refresh of the access token with HTTP 500 Internal Server Error (Simulated fault 500)."
    )
    assert "not of your settings" in paragraph
    assert "The refresh token was not used up" in paragraph
    assert "the next run tries again with it" in paragraph
    assert "token_url" not in paragraph
    assert [r.status for r in simulator.requests("token")] == [500]  # not retried blindly
    assert token_file.read_text().strip() == config["refresh_token"]
    assert len(run_tap(config).records()) == 96  # the next run


def test_a_refresh_answer_without_an_access_token_keeps_the_rotated_token(
    tap_config, run_cli, simulator, token_file
):
    """A 200 without ``access_token`` still rotated the token: the new one is stored first, the
    run fails with one paragraph, and the next run works with the stored token."""
    config = tap_config(**DAY)
    simulator.access_tokens = "never"
    failed = run_cli(config)
    paragraph = failed.error_paragraph()
    assert "without an access token" in paragraph
    assert "The new refresh token in the answer was stored" in paragraph
    assert "scope" in paragraph
    stored = token_file.read_text().strip()
    assert simulator.refresh_token_status(config["refresh_token"]) == "used"
    assert simulator.valid_refresh_tokens() == [stored]  # the rotated one, not thrown away
    assert not failed.records()

    simulator.access_tokens = "always"
    assert len(run_cli(config).records()) == 96
    assert simulator.refresh_token_status(stored) == "used"


def test_a_token_answer_that_is_not_json_says_so_and_names_the_login_command(
    tap_config, run_cli, simulator
):
    simulator.inject(Fault("200", target="token", body="<html>maintenance</html>"))
    paragraph = run_cli(tap_config(**DAY)).error_paragraph()
    assert "HTTP 200 but not with a JSON object" in paragraph
    assert "wattivahti-login" in paragraph
