"""Errors a user can act on: the CLI prints their message as one paragraph and exits non-zero."""

from __future__ import annotations


class TargetInfluxDBError(Exception):
    """An expected failure whose message says what is wrong and what to do about it."""


class ConfigurationError(TargetInfluxDBError):
    """The settings are incomplete or contradict each other."""


class StreamError(TargetInfluxDBError):
    """A stream's schema or a record cannot become points as declared.

    ``line`` is the input line being processed when the error was found; the reader fills it in.
    ``source`` says where in that line's BATCH files the record was (e.g. "record 3 of ...").
    """

    def __init__(self, message: str, line: int | None = None, source: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.source = source

    def __str__(self) -> str:
        message = super().__str__()
        where = ", ".join(
            part for part in (f"Input line {self.line}" if self.line else None, self.source) if part
        )
        return f"{where}: {message}" if where else message


class InputLineError(StreamError):
    """A line of Singer input is not a valid message."""


class WriteError(TargetInfluxDBError):
    """The server could not be reached or did not accept a batch of points."""


class WriteInterruptedError(WriteError):
    """A stop was requested (a signal) while a write waited to be retried."""

    def __init__(self) -> None:
        super().__init__(
            "The write was stopped by a signal before InfluxDB acknowledged it; it is not "
            "retried, and no STATE covers it."
        )


class StoppedError(TargetInfluxDBError):
    """A signal stopped the run before all of its input was read and stored."""

    def __init__(self, signum: int, name: str) -> None:
        super().__init__(
            f"Stopped by {name} before all input was read and stored: every STATE message "
            "emitted covers only points InfluxDB acknowledged, so the next run (Meltano keeps "
            "the last bookmark emitted) repeats the rest."
        )
        self.signum = signum
