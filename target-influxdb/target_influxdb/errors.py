"""Errors a user can act on: the CLI prints their message as one paragraph and exits non-zero."""

from __future__ import annotations


class TargetInfluxDBError(Exception):
    """An expected failure whose message says what is wrong and what to do about it."""


class ConfigurationError(TargetInfluxDBError):
    """The settings are incomplete or contradict each other."""


class StreamError(TargetInfluxDBError):
    """A stream's schema or a record cannot become points as declared.

    ``line`` is the input line being processed when the error was found; the reader fills it in.
    """

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line

    def __str__(self) -> str:
        message = super().__str__()
        return message if self.line is None else f"Input line {self.line}: {message}"


class InputLineError(StreamError):
    """A line of Singer input is not a valid message."""


class WriteError(TargetInfluxDBError):
    """The server could not be reached or did not accept a batch of points."""
