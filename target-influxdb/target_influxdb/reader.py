"""Reading Singer input: fast decoding, line numbers for errors, and a stop on signals.

The SDK's reader logs a malformed line with a traceback and forgets where it was; this one
counts lines, so that every input error names its line number.

Messages about a line name it by its number (and column), never by its content: the input
could be something else than a tap's output (a file named by mistake), and what it holds stays
out of the log. A line that is not UTF-8, or a string with half of a UTF-16 surrogate pair
(``"\\ud800"``, which Python's JSON reads but no UTF-8 text can hold), is refused at its line.

Standard input is read as bytes and decoded by msgspec (about five times as fast as ``json``),
with ``json`` as the fallback for what msgspec refuses but Python's JSON reads (``NaN``,
``Infinity``, numbers beyond float range). JSON numbers with a fraction become ``float``, not
``Decimal`` as in the SDK's reader: InfluxDB stores float64 either way, and ``float(text)`` is the
same correctly rounded value as ``float(Decimal(text))``, at a fraction of the cost.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from typing import IO, Any

from singer_sdk.io_base import GenericSingerReader, SingerMessageType
from typing_extensions import override

from target_influxdb.errors import InputLineError, StreamError

_JSON_KINDS = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
_MESSAGE_TYPE = re.compile(r"[A-Za-z_]{1,40}")


@functools.cache
def _msgspec() -> tuple[Callable[[Any], Any], type[Exception]]:
    """msgspec's JSON decoder and its error (imported here: only runs that read input use it,
    and its import costs tens of milliseconds of start-up)."""
    import msgspec

    return msgspec.json.Decoder().decode, msgspec.DecodeError


class ReadInterrupted(Exception):
    """Raised by the signal handler into a read that waits for input."""


class LineCountingReader(GenericSingerReader[Any]):
    """Reads Singer messages with line numbers, until the input ends or a stop is requested."""

    def __init__(self) -> None:
        super().__init__()
        self.line_number = 0
        self.stopped = False  # a signal asked to stop reading
        self.reading = False  # waiting for the next line (a signal may abandon the read)
        self.finished = False  # the whole input was read
        self._decode, self._decode_error = _msgspec()

    @property
    @override
    def default_input(self) -> IO[bytes]:
        return sys.stdin.buffer

    def interrupt(self) -> None:
        """Called by a signal handler: stop reading, abandoning a read that waits for input
        (by raising into it)."""
        self.stopped = True
        if self.reading:
            self.reading = False
            raise ReadInterrupted

    @override
    def process_lines(
        self,
        file_input: IO[Any] | None,
        callbacks: dict[str, Callable[[dict], None]],
    ) -> Counter[str]:
        """Dispatch each message to its callback, until the input ends or a stop is requested;
        input errors name their line number."""
        stats: Counter[str] = Counter()
        readline = (file_input or self.default_input).readline
        record = callbacks.get(SingerMessageType.RECORD)
        decode, decode_error = self._decode, self._decode_error
        records = 0
        try:
            while not self.stopped:
                try:
                    self.reading = True
                    line = readline()
                    self.reading = False
                except ReadInterrupted:
                    break
                if not line:
                    self.finished = True
                    break
                self.line_number += 1
                try:  # the hot path: a line msgspec reads as an object, a RECORD
                    message = decode(line)
                except (decode_error, UnicodeDecodeError, RecursionError):
                    message = None  # _parse says what is wrong with the line
                if type(message) is not dict:
                    message = self._parse(line)
                    if message is None:
                        continue  # a blank line
                kind: Any = message.get("type")
                if kind == "RECORD" and record is not None:
                    record(message)
                    records += 1
                    continue
                callback = callbacks.get(kind) if isinstance(kind, str) else None
                if callback is None:
                    shown = (
                        repr(kind)
                        if isinstance(kind, str) and _MESSAGE_TYPE.fullmatch(kind)
                        else f"(a JSON {json_kind(kind)})"
                    )
                    raise InputLineError(
                        f"unknown Singer message type {shown}; expected SCHEMA, RECORD, STATE, "
                        "ACTIVATE_VERSION or BATCH.",
                        self.line_number,
                    )
                callback(message)
                stats[kind] += 1
        except StreamError as exc:
            if exc.line is None:
                exc.line = self.line_number
            raise
        except RecursionError:
            raise _too_deep(self.line_number) from None
        finally:
            stats[SingerMessageType.RECORD] += records
        return stats

    @override
    def deserialize_json(self, line: str | bytes) -> dict[str, Any]:
        """Parse one line, or raise an error naming the line (no traceback in the log)."""
        message = self._parse(line)
        if message is None:
            raise InputLineError("an empty line where a Singer message was expected.")
        return message

    def _parse(self, line: str | bytes) -> dict[str, Any] | None:
        """The message on ``line`` (None for a blank line), or an error naming the line."""
        try:
            message = self._decode(line)
        except self._decode_error:
            if not line.strip():
                return None
            message = self._decode_slowly(line)
        except UnicodeDecodeError:  # msgspec's, not its DecodeError
            raise InputLineError(not_utf8(line), self.line_number) from None
        except RecursionError:
            raise _too_deep(self.line_number) from None
        if not isinstance(message, dict):
            raise InputLineError(
                f"a JSON {json_kind(message)}, not a Singer message (a JSON object with a 'type').",
                self.line_number,
            )
        return message

    def _decode_slowly(self, line: str | bytes) -> Any:
        """What msgspec refused: Python's JSON reads NaN, Infinity and out-of-range numbers."""
        try:
            return loads_slowly(line)
        except RecursionError:
            raise _too_deep(self.line_number) from None
        except json.JSONDecodeError as exc:
            raise InputLineError(
                f"not a JSON Singer message ({exc.msg} at column {exc.colno}).", self.line_number
            ) from None
        except UnicodeDecodeError:
            raise InputLineError(not_utf8(line), self.line_number) from None
        except ValueError as exc:  # a lone surrogate
            raise InputLineError(f"{exc}.", self.line_number) from None


def decode_record(text: str | bytes) -> Any:
    """One JSON value (a BATCH file's record), decoded as the reader decodes messages; a
    ValueError says what is wrong, never what the text holds."""
    decode, error = _msgspec()
    try:
        return decode(text)
    except error:
        pass
    except UnicodeDecodeError:
        raise ValueError(not_utf8(text)) from None
    try:
        return loads_slowly(text)
    except UnicodeDecodeError:
        raise ValueError(not_utf8(text)) from None


def loads_slowly(text: str | bytes) -> Any:
    """``json.loads``, refusing strings that no UTF-8 text can hold (a lone ``\\ud800``)."""
    value = json.loads(text)
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise ValueError(
            "a string holds half of a UTF-16 surrogate pair (an escape such as \\ud800 "
            "without its other half), which is not Unicode text and cannot be stored"
        ) from None
    return value


def not_utf8(text: str | bytes) -> str:
    """What is wrong with a line that is not UTF-8."""
    try:
        text.decode() if isinstance(text, bytes) else text.encode()
    except (UnicodeDecodeError, UnicodeEncodeError) as exc:
        return f"not UTF-8 text (byte {exc.start + 1} of the line); Singer messages are UTF-8 JSON."
    return "not UTF-8 text; Singer messages are UTF-8 JSON."


def json_kind(value: Any) -> str:
    """What kind of JSON value ``value`` is, for messages that must not show it."""
    return _JSON_KINDS.get(type(value), "number")


def _too_deep(number: int) -> InputLineError:
    return InputLineError(
        "a value is nested more deeply than this target can handle (Python's recursion limit "
        f"is {sys.getrecursionlimit()}). Flatten it in the tap, or drop the property with a "
        "stream map.",
        number,
    )
