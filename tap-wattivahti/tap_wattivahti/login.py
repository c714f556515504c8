"""``wattivahti-login``: log in with the WattiVahti username and password, store a refresh token.

It runs the Azure AD B2C authorization-code flow with PKCE that the WattiVahti web page uses
(docs/wattivahti-api.md, authentication), then stores the refresh token of one account
(``--account NAME``; not needed with one account) with the same token store the tap uses (its
token file, atomic, mode 0600; or its row of the token database), and says where.

The accounts, the token file or database, token URL, client id and scope come from
:func:`tap_wattivahti.settings.login_settings`: the command line first, then the tap's own
layering of ``--config`` files and ``TAP_WATTIVAHTI_<SETTING>`` environment variables, then
``REFRESH_TOKEN_FILE``, then the defaults; ``--token-file`` replaces the account's token file.
The username comes from ``--username`` or
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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from tap_wattivahti.auth import (
    TokenEndpoint,
    TokenStore,
    post_grant,
    rotate_refresh_token,
    token_store,
)
from tap_wattivahti.errors import LoginError, reported
from tap_wattivahti.settings import (
    DEFAULT_ACCOUNT,
    DEFAULTS,
    TOKEN_FILE_ALIAS,
    Account,
    TokenSettings,
    login_settings,
)
from tap_wattivahti.transport import deadline_session

PROG = "wattivahti-login"
LOGIN_SCOPE = "offline_access openid profile"
REDIRECT_URI = "https://www.wattivahti.fi/wattivahti/"
USERNAME_ENV = "WATTIVAHTI_USERNAME"
PASSWORD_ENV = "WATTIVAHTI_PASSWORD"  # noqa: S105 - the name of a variable, not a password
_TIMEOUT = 60.0


def authorize_url(token_url: str) -> str:
    """The token URL with its last path segment ``token`` replaced by ``authorize``."""
    base, _, last = token_url.rstrip("/").rpartition("/")
    if last != "token":
        msg = f"The token_url {token_url!r} does not end in /token."
        raise LoginError(msg)
    return f"{base}/authorize"


def b2c_host(token_url: str) -> str:
    """``scheme://host[:port]`` of the token URL: where the login pages live."""
    parts = urlsplit(token_url)
    return f"{parts.scheme}://{parts.netloc}"


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


@dataclass(frozen=True)
class _LoginPage:
    """What the B2C login page says about its transaction: where and how to sign in."""

    csrf: str
    query: dict[str, str]
    tenant: str
    api: str
    user_field: str
    password_field: str


def login(settings: TokenSettings, account: Account, username: str, password: str) -> str:
    """Run the login flow for ``account``; its refresh token is stored, and where returned."""
    # A refresh_token the account was given is never sent: the login makes a new one.
    store = token_store(settings, replace(account, refresh_token=None))
    store.check_writable()  # before the password is sent anywhere
    endpoint = TokenEndpoint(
        settings.token_url,
        settings.client_id,
        settings.scope,
        timeout=_TIMEOUT,
        retry_wait_seconds=DEFAULTS["retry_wait_seconds"],
    )
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    with deadline_session() as session:
        page = _open_login_page(session, settings, challenge, state)
        _sign_in(session, page, username, password)
        code = _authorization_code(session, page, state)
        _redeem(session, endpoint, store, code, verifier)
    rotate_refresh_token(store, endpoint)  # a token with the meter data API scope
    return store.where


def _open_login_page(
    session: requests.Session, settings: TokenSettings, challenge: str, state: str
) -> _LoginPage:
    """Start the authorization: the login page and the transaction its scripts describe."""
    url = authorize_url(settings.token_url)
    page = _send(
        session.get,
        url,
        "the login page",
        params={
            "client_id": settings.client_id,
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
    described = embedded_json(page.text, "SETTINGS")
    if page.status_code != 200 or described is None:
        msg = (
            f"The login page at {url} answered HTTP {page.status_code} without the expected "
            f"SETTINGS; check token_url and client_id."
        )
        raise LoginError(msg)
    user_field, password_field = _field_names(embedded_json(page.text, "SA_FIELDS"))
    try:
        return _LoginPage(
            csrf=str(described["csrf"]),
            query={"tx": str(described["transId"]), "p": str(described["hosts"]["policy"])},
            tenant=b2c_host(settings.token_url) + str(described["hosts"]["tenant"]),
            api=str(described["api"]),
            user_field=user_field,
            password_field=password_field,
        )
    except (KeyError, TypeError):
        msg = "The login page's SETTINGS lack csrf, transId, hosts or api; the flow changed."
        raise LoginError(msg) from None


def _sign_in(session: requests.Session, page: _LoginPage, username: str, password: str) -> None:
    """Send the username and password; a refusal is a clear error."""
    response = _send(
        session.post,
        f"{page.tenant}/SelfAsserted",
        "the username and password",
        params=page.query,
        headers={"X-CSRF-TOKEN": page.csrf},
        data={"request_type": "RESPONSE", page.user_field: username, page.password_field: password},
    )
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


def _authorization_code(session: requests.Session, page: _LoginPage, state: str) -> str:
    """Confirm the sign-in; its redirect carries the authorization code (and our state)."""
    response = _send(
        session.get,
        f"{page.tenant}/api/{page.api}/confirmed",
        "the sign-in confirmation",
        params={"csrf_token": page.csrf, **page.query},
        allow_redirects=False,
    )
    parts = urlsplit(response.headers.get("Location", ""))
    values = {**parse_qs(parts.query), **parse_qs(parts.fragment)}
    if response.status_code not in (301, 302, 303) or "code" not in values:
        detail = (values.get("error_description") or [f"HTTP {response.status_code}"])[0]
        msg = f"The sign-in confirmation did not return an authorization code ({detail})."
        raise LoginError(msg)
    if values.get("state", [state])[0] != state:
        msg = "The sign-in confirmation returned a different state: the login was not ours."
        raise LoginError(msg)
    return values["code"][0]


def _redeem(
    session: requests.Session,
    endpoint: TokenEndpoint,
    store: TokenStore,
    code: str,
    verifier: str,
) -> None:
    """Exchange the authorization code (PKCE) for the first refresh token and store it."""
    first = post_grant(
        endpoint,
        {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": verifier,
            "redirect_uri": REDIRECT_URI,
            "scope": LOGIN_SCOPE,
            "client_id": endpoint.client_id,
        },
        what="authorization code grant",
        session=session,
        store=store,  # on disk before it is used (and retired) by the rotation that follows
    )
    if not first.refresh_token:
        msg = "The token endpoint answered the login without a refresh token."
        raise LoginError(msg)


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
        "--account",
        metavar="NAME",
        help="the account to log in (one of the accounts setting; not needed with one account)",
    )
    parser.add_argument(
        "--token-file",
        help=(
            f"where to write the token (default: the account's refresh_token_file: config, "
            f"${TOKEN_FILE_ALIAS}, {DEFAULTS['refresh_token_file']})"
        ),
    )
    parser.add_argument("--token-url", help="B2C token endpoint (default: config or the real one)")
    parser.add_argument("--client-id", help="B2C client id (default: config or the real one)")
    parser.add_argument("--username", help=f"WattiVahti username (default: ${USERNAME_ENV})")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``wattivahti-login``; returns 0, or exits with one paragraph (see ``reported``)."""
    args = build_parser().parse_args(argv)
    with reported(PROG, interrupted="interrupted before the login finished; run it again."):
        settings = login_settings(
            args.config, {"token_url": args.token_url, "client_id": args.client_id}
        )
        account = settings.account(args.account)
        if args.token_file:
            account = replace(account, refresh_token_file=Path(args.token_file))
        username = args.username or os.environ.get(USERNAME_ENV) or _ask("Username: ", secret=False)
        password = os.environ.get(PASSWORD_ENV) or _ask("Password: ", secret=True)
        where = login(settings, account, username.strip(), password)
    named = "" if account.name == DEFAULT_ACCOUNT else f" (account {account.name})"
    print(
        f"Logged in{named}. The refresh token is stored in {where}; tap-wattivahti reads it "
        f"from there."
    )
    return 0


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
