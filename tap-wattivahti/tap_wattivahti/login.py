"""``wattivahti-login``: log in with the WattiVahti username and password, store a refresh token.

It runs the Azure AD B2C authorization-code flow with PKCE that the WattiVahti web page uses
(WATTIVAHTI_API.md, steps 1-5), then writes the refresh token to the tap's token file with the
same token store the tap uses (atomic, mode 0600), and says where.

Settings come, first match wins, from the command line, from ``--config`` files (the tap's config
JSON; later files win), from ``TAP_WATTIVAHTI_<SETTING>`` environment variables, and for the
token file from ``REFRESH_TOKEN_FILE``. The username comes from ``--username`` or
``WATTIVAHTI_USERNAME``, the password from ``WATTIVAHTI_PASSWORD``; missing ones are prompted for
(the password without echo). The password is never written anywhere.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import json
import os
import secrets
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from tap_wattivahti.auth import TokenEndpoint, TokenStore, post_grant, rotate_refresh_token
from tap_wattivahti.client import deadline_session
from tap_wattivahti.errors import LoginError, TapWattiVahtiError
from tap_wattivahti.tap import (
    DEFAULT_CLIENT_ID,
    DEFAULT_SCOPE,
    DEFAULT_TOKEN_FILE,
    DEFAULT_TOKEN_URL,
)

PROG = "wattivahti-login"
LOGIN_SCOPE = "offline_access openid profile"
REDIRECT_URI = "https://www.wattivahti.fi/wattivahti/"
USERNAME_ENV = "WATTIVAHTI_USERNAME"
PASSWORD_ENV = "WATTIVAHTI_PASSWORD"  # noqa: S105 - the name of a variable, not a password
TOKEN_FILE_ENV = "REFRESH_TOKEN_FILE"  # noqa: S105 - the name of a variable
TAP_ENV_PREFIX = "TAP_WATTIVAHTI_"
_TIMEOUT = 60.0


@dataclass(frozen=True)
class LoginOptions:
    """Where to log in and where to keep the token."""

    token_file: Path
    token_url: str
    client_id: str
    scope: str

    @property
    def authorize_url(self) -> str:
        """The token URL with its last path segment ``token`` replaced by ``authorize``."""
        base, _, last = self.token_url.rstrip("/").rpartition("/")
        if last != "token":
            msg = f"The token_url {self.token_url!r} does not end in /token."
            raise LoginError(msg)
        return f"{base}/authorize"

    @property
    def b2c_host(self) -> str:
        """``scheme://host[:port]`` of the token URL: where the login pages live."""
        parts = urlsplit(self.token_url)
        return f"{parts.scheme}://{parts.netloc}"


def resolve_options(args: argparse.Namespace, environ: Mapping[str, str]) -> LoginOptions:
    """Combine the command line, ``--config`` files and the environment (in that order)."""
    config: dict[str, Any] = {}
    for path in args.config:
        try:
            config.update(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError) as exc:
            msg = f"Cannot read the config file {path}: {exc}."
            raise LoginError(msg) from None

    def setting(name: str, flag: str | None, *fallbacks: str | None) -> str | None:
        candidates = [flag, config.get(name), environ.get(TAP_ENV_PREFIX + name.upper())]
        return next((value for value in [*candidates, *fallbacks] if value), None)

    return LoginOptions(
        token_file=Path(
            setting(
                "refresh_token_file",
                args.token_file,
                environ.get(TOKEN_FILE_ENV),
                DEFAULT_TOKEN_FILE,
            )
            or DEFAULT_TOKEN_FILE
        ),
        token_url=setting("token_url", args.token_url) or DEFAULT_TOKEN_URL,
        client_id=setting("client_id", args.client_id) or DEFAULT_CLIENT_ID,
        scope=setting("scope", None) or DEFAULT_SCOPE,
    )


def pkce_pair() -> tuple[str, str]:
    """A PKCE code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def embedded_json(page: str, name: str) -> dict[str, Any] | None:
    """The object literal of ``var NAME = {...};`` in a login page, or None."""
    marker = f"var {name} = "
    index = page.find(marker)
    if index < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(page, index + len(marker))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def login(options: LoginOptions, username: str, password: str) -> Path:
    """Run the login flow; the refresh token is stored, and its file returned."""
    store = TokenStore(options.token_file)
    store.check_writable()  # before the password is sent anywhere
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    with deadline_session() as session:
        page = _send(
            session.get,
            options.authorize_url,
            "the login page",
            params={
                "client_id": options.client_id,
                "scope": LOGIN_SCOPE,
                "redirect_uri": REDIRECT_URI,
                "response_type": "code",
                "response_mode": "fragment",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "nonce": secrets.token_urlsafe(16),
                "state": state,
            },
        )
        settings = embedded_json(page.text, "SETTINGS")
        if page.status_code != 200 or settings is None:
            msg = (
                f"The login page at {options.authorize_url} answered HTTP {page.status_code} "
                f"without the expected SETTINGS; check token_url and client_id."
            )
            raise LoginError(msg)
        try:
            csrf = str(settings["csrf"])
            query = {"tx": str(settings["transId"]), "p": str(settings["hosts"]["policy"])}
            tenant = options.b2c_host + str(settings["hosts"]["tenant"])
            api = str(settings["api"])
        except (KeyError, TypeError):
            msg = "The login page's SETTINGS lack csrf, transId, hosts or api; the flow changed."
            raise LoginError(msg) from None
        user_field, password_field = _field_names(embedded_json(page.text, "SA_FIELDS"))
        asserted = _send(
            session.post,
            f"{tenant}/SelfAsserted",
            "the username and password",
            params=query,
            headers={"X-CSRF-TOKEN": csrf},
            data={"request_type": "RESPONSE", user_field: username, password_field: password},
        )
        _check_self_asserted(asserted)
        confirmed = _send(
            session.get,
            f"{tenant}/api/{api}/confirmed",
            "the sign-in confirmation",
            params={"csrf_token": csrf, **query},
            allow_redirects=False,
        )
        code = _authorization_code(confirmed, state)
        endpoint = TokenEndpoint(options.token_url, options.client_id, options.scope, _TIMEOUT)
        first = post_grant(
            endpoint,
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": verifier,
                "redirect_uri": REDIRECT_URI,
                "scope": LOGIN_SCOPE,
                "client_id": options.client_id,
            },
            what="authorization code grant",
            session=session,
            store=store,  # on disk before it is used (and retired) below
        )
    if not first.refresh_token:
        msg = "The token endpoint answered the login without a refresh token."
        raise LoginError(msg)
    rotate_refresh_token(store, endpoint)  # a token with the meter data API scope
    return store.path


def _send(method: Any, url: str, what: str, **kwargs: Any) -> requests.Response:
    try:
        return method(url, timeout=_TIMEOUT, **kwargs)
    except requests.RequestException as exc:
        msg = f"Could not reach {url} for {what} ({type(exc).__name__}); try again later."
        raise LoginError(msg) from None


def _field_names(sa_fields: dict[str, Any] | None) -> tuple[str, str]:
    """The username and password form field names (B2C's defaults when not declared)."""
    fields = [
        item
        for item in (sa_fields or {}).get("AttributeFields") or []
        if isinstance(item, dict) and item.get("ID")
    ]
    users = [str(item["ID"]) for item in fields if not item.get("IS_PASSWORD")]
    passwords = [str(item["ID"]) for item in fields if item.get("IS_PASSWORD")]
    return (users or ["logonIdentifier"])[0], (passwords or ["password"])[0]


def _check_self_asserted(response: requests.Response) -> None:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 200 and str(body.get("status")) == "200":
        return
    message = body.get("message") or f"HTTP {response.status_code}"
    msg = (
        f"WattiVahti did not accept the username and password ({message}). Check them (the "
        f"same as on the WattiVahti web page) and run {PROG} again. No token was written."
    )
    raise LoginError(msg)


def _authorization_code(response: requests.Response, state: str) -> str:
    location = response.headers.get("Location", "")
    parts = urlsplit(location)
    values = {**parse_qs(parts.query), **parse_qs(parts.fragment)}
    if response.status_code not in (301, 302, 303) or "code" not in values:
        detail = (values.get("error_description") or [f"HTTP {response.status_code}"])[0]
        msg = f"The sign-in confirmation did not return an authorization code ({detail})."
        raise LoginError(msg)
    if values.get("state", [state])[0] != state:
        msg = "The sign-in confirmation returned a different state: the login was not ours."
        raise LoginError(msg)
    return values["code"][0]


def _ask(prompt: str, *, secret: bool) -> str:
    if not sys.stdin or not sys.stdin.isatty():
        what = PASSWORD_ENV if secret else USERNAME_ENV
        msg = f"No terminal to ask for it: set {what} (or run {PROG} in a terminal)."
        raise LoginError(msg)
    try:
        return getpass.getpass(prompt) if secret else input(prompt)
    except EOFError:
        msg = "No answer given; nothing was written."
        raise LoginError(msg) from None


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Log in to WattiVahti with your username and password and store a refresh token "
            "for tap-wattivahti in its refresh_token_file."
        ),
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="FILE",
        help="the tap's config JSON (repeatable; later files win)",
    )
    parser.add_argument(
        "--token-file",
        help=f"where to write the token (default: config, ${TOKEN_FILE_ENV}, {DEFAULT_TOKEN_FILE})",
    )
    parser.add_argument("--token-url", help="B2C token endpoint (default: config or the real one)")
    parser.add_argument("--client-id", help="B2C client id (default: config or the real one)")
    parser.add_argument("--username", help=f"WattiVahti username (default: ${USERNAME_ENV})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``wattivahti-login``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        options = resolve_options(args, os.environ)
        username = args.username or os.environ.get(USERNAME_ENV) or _ask("Username: ", secret=False)
        password = os.environ.get(PASSWORD_ENV) or _ask("Password: ", secret=True)
        path = login(options, username.strip(), password)
    except TapWattiVahtiError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted before the login finished; run it again.", file=sys.stderr)
        return 130
    print(f"Logged in. The refresh token is stored in {path}; tap-wattivahti reads it from there.")
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
