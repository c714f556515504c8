"""The only place where the target uses private names of its libraries.

Each use says why no public way serves; all were checked against singer-sdk 0.54.9 (pinned
exactly in ``pyproject.toml``), and ``docs/library-notes.md`` has a section for each. Before
raising that pin, check this file against the new version first. The target uses no private name
of influxdb-client 1.50.0 or urllib3 2.8.0: its retry policy (``writers.WriteRetry``) overrides
only public methods of urllib3's ``Retry`` and passes ``increment``'s private parameters on
unnamed (docs/library-notes.md#urllib3-retry).

The rest of the package overrides the public methods these classes give the hooks
(``on_schema``, ``on_record``, ...), whose defaults are the SDK's own behaviour.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from singer_sdk.sinks import BatchSink
from singer_sdk.target_base import Target
from typing_extensions import override

if TYPE_CHECKING:
    from collections.abc import Iterable
    from types import FrameType

    from singer_sdk.helpers.conform import DatetimeErrorTreatmentEnum


class TargetHooks(Target):
    """singer-sdk's ``Target`` with its per-message and signal hooks under public names.

    ``PluginBase.process_lines`` (final) hands each message to ``Target._process_<type>_message``
    and the SDK installs ``_handle_termination`` for SIGINT and SIGTERM; there are no public
    hooks for either (docs/library-notes.md#sdk-message-hooks,
    docs/library-notes.md#sdk-handle-termination).
    """

    def on_schema(self, message: dict) -> None:
        """A SCHEMA message: the SDK registers the stream's maps and makes its sinks."""
        super()._process_schema_message(message)

    def on_record(self, message: dict) -> None:
        """A RECORD message: the SDK maps, validates and hands the record to its sinks."""
        super()._process_record_message(message)

    def on_state(self, message: dict) -> None:
        """A STATE message: the SDK keeps it for its next full drain."""
        super()._process_state_message(message)

    def on_batch(self, message: dict) -> None:
        """A BATCH message: the SDK has its sinks read the files into ``process_batch``."""
        super()._process_batch_message(message)

    def on_signal(self, signum: int) -> None:
        """SIGTERM or SIGINT: the SDK drains every sink from the handler, emits its latest
        STATE and exits 0."""
        super()._handle_termination(signum, None)

    def require(self, message: dict, keys: Iterable[str]) -> None:
        """Raise the SDK's input error unless ``message`` has ``keys``
        (docs/library-notes.md#sdk-target-helpers)."""
        self._assert_line_requires(message, requires=set(keys))

    def require_sink(self, stream: str) -> None:
        """Raise the SDK's error for a record of a stream without a SCHEMA message yet
        (docs/library-notes.md#sdk-target-helpers)."""
        self._assert_sink_exists(stream)

    def drain_if_old(self) -> None:
        """Drain every sink when the oldest undrained record is older than the SDK's limit
        (five minutes), as the SDK does after each RECORD
        (docs/library-notes.md#sdk-target-helpers)."""
        self._handle_max_record_age()

    @override
    def _process_schema_message(self, message_dict: dict) -> None:
        self.on_schema(message_dict)

    @override
    def _process_record_message(self, message_dict: dict) -> None:
        self.on_record(message_dict)

    @override
    def _process_state_message(self, message_dict: dict) -> None:
        self.on_state(message_dict)

    @override
    def _process_batch_message(self, message_dict: dict) -> None:
        self.on_batch(message_dict)

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        self.on_signal(signum)


class SinkHooks(BatchSink):
    """singer-sdk's ``BatchSink`` that leaves date-time strings as the tap sent them.

    On the SDK's per-record path (stream maps, flattening, validation, metadata), singer-sdk
    parses every date-time, date and time property of every record into Python objects in the
    private ``Sink._parse_timestamps_in_record``, with no setting to turn it off (a sixth of the
    run time in a profile); the target parses only the time property itself and writes other
    date-time properties as the strings they are (docs/library-notes.md#sdk-parse-timestamps).
    """

    @override
    def _parse_timestamps_in_record(
        self,
        record: dict,
        schema: dict,
        treatment: DatetimeErrorTreatmentEnum,
    ) -> None:
        """Leave the record as it is."""
