"""A batch counts as stored only on 204 No Content, the answer of every InfluxDB and
VictoriaMetrics write endpoint; anything else that is not an InfluxDB refusal (a web server's
200 page, a proxy's redirect to its login page) is one paragraph and no STATE.

A small web server that is not InfluxDB stands in for the wrong URL: it answers writes with a
page or a redirect to a login page that answers 200 (to GET and POST alike)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from tests.servers import LocalServer, reply

NGINX = "<html><head><title>Welcome to nginx!</title></head><body>Welcome</body></html>"
LOGIN = "<html><body><form action='/login'>Log in</form></body></html>"


class NotInfluxDB(LocalServer):
    """A web server whose write paths answer ``status`` (a page, or a redirect to /login)."""

    def __init__(self, status: int) -> None:
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer()

            def _answer(self) -> None:
                server.requests.append((self.command, self.path.split("?")[0]))
                page = {"Content-Type": "text/html"}
                if self.path.startswith("/ping"):
                    reply(self, 204)
                elif self.path.startswith("/login"):
                    reply(self, 200, LOGIN.encode(), page)
                elif status in (301, 302, 307):
                    reply(self, status, headers={"Location": "/login?next=/write"})
                else:
                    reply(self, status, NGINX.encode(), page)

        super().__init__(Handler)


DESTINATIONS = {
    "v1": {"database": "electricity"},
    "v2": {"bucket": "electricity", "org": "wattivahti", "token": "t"},
}


@pytest.mark.parametrize("flavour", ["v1", "v2"])
@pytest.mark.parametrize(
    ("status", "answer"),
    [
        (200, "HTTP 200, text/html starting '<html><head><title>Welcome to nginx!"),
        (302, "HTTP 302, a redirect to /login?next=/write"),
        (307, "HTTP 307, a redirect to /login?next=/write"),
    ],
    ids=["200-page", "302-login", "307-login"],
)
def test_an_answer_other_than_204_is_not_counted_as_stored(run_cli, flavour, status, answer):
    server = NotInfluxDB(status)
    try:
        config = {"url": server.url, **DESTINATIONS[flavour], "max_retries": 0}
        result = run_cli(config, "consumption.singer")
    finally:
        server.close()

    assert result.returncode == 1
    assert result.stdout == ""  # no STATE
    assert "Traceback" not in result.stderr
    [error] = [line for line in result.stderr.splitlines() if "| ERROR" in line]
    assert f"{server.url} answered a write to" in error
    assert answer in error
    assert "where every InfluxDB (and VictoriaMetrics) write endpoint answers 204" in error
    assert "the URL does not look like an InfluxDB write endpoint" in error
    assert "Correct the `url` setting" in error
    assert not any(path.startswith("/login") for _, path in server.requests)  # not followed
