"""The only place where the tap uses private names of its libraries.

Each use below says why no public way serves and which version it was checked against; the
exact pins in ``pyproject.toml`` keep them true, and ``docs/library-notes.md`` has a section for
each. Before raising a pin, check this file against the new version first.

* singer-sdk 0.54.9: ``_ConfigInput.from_cli_args`` and ``parse_environment_config`` (how the
  tap reads config files and ``TAP_WATTIVAHTI_*`` variables, for ``wattivahti-login``),
  ``PluginBase._handle_termination`` (the signal handler), ``RESTStream._request`` (one request),
  ``Stream._write_starting_replication_value`` (a partition planned ahead);
* requests 2.34.2: ``Response._content`` and ``_content_consumed`` (a body read under a deadline);
* urllib3 2.8.0: no private name (``tap_wattivahti.transport`` uses public ones only).

Public hooks whose use rests on a verified library behaviour say so where they are, citing
docs/library-notes.md: ``settings.DEFAULTS`` (schema defaults), ``client.TapStream.log`` (the
SDK's sync error line), ``transport.DeadlineAdapter`` (reads under a deadline),
``output.Writer`` (the message writer).
"""

from __future__ import annotations

import abc
import contextlib
import os
import typing as t

from singer_sdk import Tap
from singer_sdk.configuration._dict_config import parse_environment_config
from singer_sdk.plugin_base import _ConfigInput
from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from types import FrameType

    import requests
    from singer_sdk import RESTStream, Stream
    from singer_sdk.helpers.types import Context


def config_files(paths: Sequence[str]) -> dict[str, t.Any]:
    """The settings of the config files ``paths`` merged as the SDK's ``--config`` does them
    (later files win; ``ENV`` is not a file). See docs/library-notes.md#sdk-config-files.

    singer-sdk 0.54.9 has no public function for it: ``_ConfigInput.from_cli_args`` is what the
    tap's command line calls.
    """
    return _ConfigInput.from_cli_args(*paths).config


def environment_config(schema: dict[str, t.Any], prefix: str) -> dict[str, t.Any]:
    """The settings of ``schema`` that ``PREFIX<NAME>`` environment variables set, converted to
    the schema's types as the SDK does for ``--config ENV``. See
    docs/library-notes.md#sdk-environment-config.

    singer-sdk 0.54.9's only public way is to create a tap with ``parse_env_config=True``, which
    would load the streams. Its ``parse_environment_config`` also loads the first ``.env`` file
    found upwards from the SDK's install folder, letting it override the environment; that is
    turned off here (``os.devnull`` is no file), so a checkout's ``.env`` cannot redirect the
    token file behind the caller's back.
    """
    return parse_environment_config(schema, prefix, dotenv_path=os.devnull)


class TapHooks(Tap):
    """A tap that decides how a signal ends it (:meth:`on_stop` runs after the SDK's handler)
    and what happens once every stream is synced (:meth:`on_synced`).

    singer-sdk 0.54.9 installs ``PluginBase._handle_termination`` for SIGINT and SIGTERM when a
    tap is created; ``Tap``'s version writes a last STATE message, then ``PluginBase``'s exits
    with status 0. There is no public hook. See docs/library-notes.md#sdk-handle-termination.
    ``Tap.sync_all`` is marked final (a hint to type checkers; Python does not enforce it) and
    has no hook after its last stream. See docs/library-notes.md#sdk-sync-all.
    """

    @abc.abstractmethod
    def on_stop(self, signum: int) -> t.NoReturn:
        """End the run after signal ``signum`` (the last STATE is written)."""

    @abc.abstractmethod
    def on_synced(self, finished: bool) -> None:
        """Every stream was synced (``finished``), or the sync ended with an exception (which
        goes on after this)."""

    @override
    def sync_all(self) -> None:  # ty: ignore[override-of-final-method]
        """The SDK's sync of every stream, then :meth:`on_synced`."""
        try:
            super().sync_all()
        except BaseException:
            self.on_synced(finished=False)
            raise
        self.on_synced(finished=True)

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """The SDK's handler up to its exit, then :meth:`on_stop`."""
        with contextlib.suppress(SystemExit):
            super()._handle_termination(signum, frame)
        self.on_stop(signum)


# singer-sdk 0.54.9: one request of a REST stream, without its pagination and record parsing.
def send_request(
    stream: RESTStream,
) -> Callable[[requests.PreparedRequest, Context | None], requests.Response]:
    """The SDK's sending of one prepared request of ``stream``, for ``request_decorator``.

    ``RESTStream._request`` authenticates the request, sends it on the stream's session with the
    stream's ``timeout``, logs the request metric and calls ``validate_response``; the public
    ``request_records`` wraps it in pagination and record parsing, which the tap does itself
    (several resolutions per window). See docs/library-notes.md#sdk-request.
    """
    return stream._request


# singer-sdk 0.54.9: the starting bookmark of a partition synced later.
def write_starting_value(stream: Stream, context: Context) -> None:
    """Write partition ``context``'s starting replication value into its state, as the SDK does
    just before it syncs the partition, so ``get_starting_timestamp`` works for it now.

    ``Stream._write_starting_replication_value`` is what ``Stream._sync_records`` calls per
    partition; the tap plans partitions ahead of that (it fetches them early), and the value is
    the same when the SDK writes it again. See docs/library-notes.md#sdk-starting-value.
    """
    stream._write_starting_replication_value(context)


# requests 2.34.2: a response body read by the tap itself (the total deadline).
def set_content(response: requests.Response, body: bytes) -> None:
    """Make ``body`` the ``response.content`` of a response streamed and read here.

    requests 2.34.2 keeps a read body in ``Response._content`` and marks it read with
    ``_content_consumed``; it has no public way to hand it a body read elsewhere. See
    docs/library-notes.md#requests-content.
    """
    response._content = body
    response._content_consumed = True
