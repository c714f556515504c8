"""``wattivahti-login`` end to end against the simulator's B2C login pages."""

from __future__ import annotations

import json
import os
import pty
import select
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tap_wattivahti import login, settings

from tests.simulator import Simulator

LOGIN = Path(sys.executable).with_name("wattivahti-login")


def run_login(sim: Simulator, *args: str, password: str | None, env_extra=None):
    env = {"WATTIVAHTI_USERNAME": sim.username, "PATH": str(LOGIN.parent)}
    if password is not None:
        env["WATTIVAHTI_PASSWORD"] = password
    env.update(env_extra or {})
    return subprocess.run(
        [str(LOGIN), "--token-url", sim.token_url, *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def test_login_writes_a_refresh_token_that_the_tap_then_uses(
    simulator, tmp_path, tap_config, run_tap
):
    token_file = tmp_path / "secrets" / "refresh_token.txt"
    done = run_login(simulator, "--token-file", str(token_file), password=simulator.password)
    assert done.returncode == 0, done.stderr
    assert f"The refresh token is stored in {token_file}" in done.stdout
    assert [r.kind for r in simulator.requests() if r.kind != "control"] == [
        "authorize", "selfasserted", "confirmed", "token", "token",
    ]  # fmt: skip
    assert [r.params["grant_type"] for r in simulator.requests("token")] == [
        "authorization_code",
        "refresh_token",
    ]
    stored = token_file.read_text().strip()
    assert simulator.valid_refresh_tokens() == [stored]
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert simulator.password not in done.stdout + done.stderr
    assert stored not in done.stdout + done.stderr

    config = tap_config(start_date="2025-06-10", end_date="2025-06-11")
    config.pop("refresh_token")
    config["refresh_token_file"] = str(token_file)
    assert len(run_tap(config).records()) == 96


@pytest.mark.parametrize("access_tokens", ["always", "resource"])
def test_login_works_whether_or_not_the_code_grant_answers_an_access_token(
    simulator, tmp_path, tap_config, run_tap, access_tokens
):
    """Azure AD B2C answers the login's code grant (scope ``offline_access openid profile``, no
    API) with an id token and a refresh token but no access token: the login needs none."""
    simulator.access_tokens = access_tokens
    token_file = tmp_path / "refresh_token.txt"
    done = run_login(simulator, "--token-file", str(token_file), password=simulator.password)
    assert done.returncode == 0, done.stderr
    stored = token_file.read_text().strip()
    assert simulator.valid_refresh_tokens() == [stored]
    config = tap_config(start_date="2025-06-10", end_date="2025-06-11")
    config.pop("refresh_token")
    config["refresh_token_file"] = str(token_file)
    assert len(run_tap(config).records()) == 96


def test_wrong_password_fails_clearly_and_writes_nothing(simulator, tmp_path):
    token_file = tmp_path / "refresh_token.txt"
    done = run_login(simulator, "--token-file", str(token_file), password="hunter2")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(
        "wattivahti-login: error: WattiVahti did not accept the username and password "
        "(Käyttäjätunnus tai salasana on virheellinen.)"
    )
    assert "hunter2" not in done.stdout + done.stderr
    assert not token_file.exists()
    assert simulator.requests("confirmed") == []
    assert simulator.requests("token") == []


def test_login_without_a_password_or_terminal_says_which_variable_to_set(simulator, tmp_path):
    done = run_login(simulator, "--token-file", str(tmp_path / "t.txt"), password=None)
    assert done.returncode == 1
    assert "set WATTIVAHTI_PASSWORD" in done.stderr
    assert simulator.requests() == []


def test_login_asks_on_a_terminal_without_echoing_the_password(simulator, tmp_path):
    token_file = tmp_path / "refresh_token.txt"
    controller, terminal = pty.openpty()
    login_process = subprocess.Popen(
        [str(LOGIN), "--token-url", simulator.token_url, "--token-file", str(token_file)],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env={"PATH": str(LOGIN.parent)},
        start_new_session=True,
    )
    os.close(terminal)
    screen = bytearray()

    def read_until(text: bytes) -> None:
        deadline = time.monotonic() + 30
        while text not in screen and time.monotonic() < deadline:
            if select.select([controller], [], [], 0.1)[0]:
                try:
                    screen.extend(os.read(controller, 1024))
                except OSError:  # the terminal closed: the process ended
                    return

    read_until(b"Username: ")
    os.write(controller, simulator.username.encode() + b"\n")
    read_until(b"Password: ")
    os.write(controller, simulator.password.encode() + b"\n")
    read_until(b"tap-wattivahti reads it from there.")
    assert login_process.wait(timeout=30) == 0, bytes(screen)
    os.close(controller)
    assert simulator.password.encode() not in screen
    assert simulator.valid_refresh_tokens() == [token_file.read_text().strip()]


def test_login_takes_the_token_file_and_endpoint_from_the_tap_config(
    simulator, tmp_path, monkeypatch, capsys
):
    config = tmp_path / "config.json"
    token_file = tmp_path / "from-config.txt"
    config.write_text(
        json.dumps({"token_url": simulator.token_url, "refresh_token_file": str(token_file)})
    )
    monkeypatch.setenv("WATTIVAHTI_USERNAME", simulator.username)
    monkeypatch.setenv("WATTIVAHTI_PASSWORD", simulator.password)
    monkeypatch.setenv("REFRESH_TOKEN_FILE", str(tmp_path / "from-env.txt"))
    assert login.main(["--config", str(config)]) == 0
    assert simulator.valid_refresh_tokens() == [token_file.read_text().strip()]
    assert not (tmp_path / "from-env.txt").exists()
    assert str(token_file) in capsys.readouterr().out


def test_token_file_falls_back_to_the_refresh_token_file_variable(simulator, tmp_path):
    target = tmp_path / "env-token.txt"
    done = run_login(simulator, password=simulator.password,
                     env_extra={"REFRESH_TOKEN_FILE": str(target)})  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert simulator.valid_refresh_tokens() == [target.read_text().strip()]


@pytest.mark.parametrize(
    ("token_url", "authorize", "host"),
    [
        (
            "https://pesv.b2clogin.com/pesv.onmicrosoft.com/b2c_1_x/oauth2/v2.0/token",
            "https://pesv.b2clogin.com/pesv.onmicrosoft.com/b2c_1_x/oauth2/v2.0/authorize",
            "https://pesv.b2clogin.com",
        ),
        ("http://127.0.0.1:8765/t/p/oauth2/v2.0/token", "http://127.0.0.1:8765/t/p/oauth2/v2.0/authorize",
         "http://127.0.0.1:8765"),
    ],
)  # fmt: skip
def test_login_pages_are_found_from_the_token_url(token_url, authorize, host):
    assert login.authorize_url(token_url) == authorize
    assert login.b2c_host(token_url) == host


def test_login_settings_layer_flags_environment_files_alias_and_defaults(tmp_path, monkeypatch):
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    first.write_text(json.dumps({"refresh_token_file": "first.txt", "client_id": "first-client"}))
    second.write_text(json.dumps({"refresh_token_file": "second.txt", "scope": ""}))
    for name in ("REFRESH_TOKEN_FILE", "TAP_WATTIVAHTI_REFRESH_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TAP_WATTIVAHTI_CLIENT_ID", "env-client")
    monkeypatch.setenv("TAP_WATTIVAHTI_TOKEN_URL", "")  # empty: unset
    monkeypatch.setenv("REFRESH_TOKEN_FILE", "alias.txt")
    no_flags = {"token_url": None, "client_id": None}
    got = settings.login_settings([str(first), str(second)], no_flags)
    assert got.account(None).refresh_token_file == Path("second.txt")  # files win over the alias
    assert got.client_id == "env-client"  # the environment wins over the files, as in the tap
    assert got.token_url == settings.DEFAULTS["token_url"]
    assert got.scope == settings.DEFAULTS["scope"]  # an empty value is unset
    flagged = settings.login_settings(
        [str(first)], {**no_flags, "client_id": "flag-client", "token_url": "http://x/token"}
    )
    assert (flagged.client_id, flagged.token_url) == ("flag-client", "http://x/token")
    assert settings.login_settings([], no_flags).account(None).refresh_token_file == Path(
        "alias.txt"
    )
    monkeypatch.delenv("REFRESH_TOKEN_FILE")
    assert settings.login_settings([], no_flags).account(None).refresh_token_file == Path(
        "refresh_token.txt"
    )


def _accounts_config(sim: Simulator, folder: Path, **extra) -> Path:
    """A tap config of two accounts, a and b (whose login is b@example.com), no tokens yet."""
    sim.add_account("a", "1000001")
    sim.add_account("b", "1000002", username="b@example.com")
    accounts = [
        {"name": name, "metering_points": [code], "refresh_token_file": str(folder / f"{name}.txt")}
        for name, code in (("a", "1000001"), ("b", "1000002"))
    ]
    config = folder / "config.json"
    config.write_text(json.dumps({"accounts": accounts, "token_url": sim.token_url, **extra}))
    return config


@pytest.mark.parametrize("store", ["file", "database"])
def test_login_with_account_stores_that_accounts_first_token(
    simulator, tmp_path, run_tap, request, store
):
    extra = {}
    if store == "database":
        server = request.getfixturevalue("postgresql")
        extra["token_database_uri"] = server.uri(request.getfixturevalue("postgres_database"))
    config = _accounts_config(simulator, tmp_path, **extra)
    before = set(simulator.valid_refresh_tokens("b"))
    done = run_login(
        simulator, "--config", str(config), "--account", "b", password=simulator.password,
        env_extra={"WATTIVAHTI_USERNAME": "b@example.com"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Logged in (account b). The refresh token is stored in " in done.stdout
    [token] = set(simulator.valid_refresh_tokens("b")) - before
    if store == "file":
        assert (tmp_path / "b.txt").read_text().strip() == token
        assert f"stored in {tmp_path / 'b.txt'};" in done.stdout
    else:
        assert "stored in the token database test_" in done.stdout
        assert "(table wattivahti_refresh_tokens, account b)" in done.stdout
    assert not (tmp_path / "a.txt").exists()
    tap = json.loads(config.read_text())
    tap["accounts"] = tap["accounts"][1:]
    tap |= {"api_url": simulator.api_url, "start_date": "2025-06-10", "end_date": "2025-06-11"}
    assert {r["metering_point"] for r in run_tap(tap).records()} == {"1000002"}
    assert simulator.refresh_grants("b")[-1] == token


def test_login_needs_the_account_when_there_are_several(simulator, tmp_path):
    config = _accounts_config(simulator, tmp_path)
    done = run_login(simulator, "--config", str(config), password=simulator.password)
    assert done.returncode == 1
    assert "Name the account with --account NAME: there are several (a, b)." in done.stderr
    done = run_login(simulator, "--config", str(config), "--account", "c", password="x")
    assert "There is no account named 'c': the accounts are a, b." in done.stderr
    assert simulator.requests() == []
