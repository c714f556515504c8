"""Errors a user can act on, and the messages about the server and the end of a run.

Every message says what is wrong and what to do, as one paragraph; the command line logs it as
the run's one ERROR line, named by the program, and exits non-zero, with no traceback
(:func:`ending`; README, "How a plugin ends a failed run"). Messages
about the server (unreachable, rejected writes, unclear or missing destinations) and the
run-ending paragraph are composed here. An error about one stream's schema or records is a
:class:`StreamError` composed where it is found, in one ``raise`` that names the stream
(``mapping.py``: names, tags, values, time; ``reader.py``: input lines; ``batch_files.py``:
BATCH files; ``sinks.py``: schema validation, key properties, extraction time).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from singer_sdk.exceptions import SingerSDKError
from singer_sdk.singerlib.exceptions import SingerError

from target_influxdb.settings import (
    Connection,
    Destination,
    V1Destination,
    V2Destination,
    display_url,
)


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


#: What ends a run with a message instead of a traceback: ours, and the SDK's about the input.
EXPECTED = (TargetInfluxDBError, SingerSDKError, SingerError)


PIPE_CLOSED = (
    "The program reading the target's output (Meltano, which keeps its STATE messages) closed "
    "it, so the target stopped. Points already written stay; the next run repeats what "
    "follows the last STATE that program read."
)
INTERRUPTED = "Interrupted before the run began: nothing was read or written."


def ending(
    program: str,
    exc: BaseException,
    line: int | None,
    late: BaseException | None,
    stopped: StoppedError | None,
) -> tuple[str, int]:
    """The last paragraph of a failed run and its exit status (README, "How a plugin ends a
    failed run"): ``PROGRAM: error: MESSAGE`` and 1, or, when a signal stopped the run,
    ``PROGRAM: MESSAGE`` and 128 + the signal. ``late`` is the failure of the write that was in
    flight, ``stopped`` the stop request's error, each added to the one paragraph."""
    if isinstance(exc, KeyboardInterrupt):  # Ctrl-C before the signal handler was installed
        return f"{program}: {INTERRUPTED}", 130
    parts = [PIPE_CLOSED if isinstance(exc, BrokenPipeError) else paragraph(exc, line)]
    if late is not None and late is not exc:
        parts.append(f"The write in flight failed too: {paragraph(late, None)}")
    if stopped is None:
        return f"{program}: error: {' '.join(parts)}", 1
    if stopped is not exc:
        parts.append(str(stopped))
    return f"{program}: {' '.join(parts)}", 128 + stopped.signum


def invalid_settings(problems: list[str]) -> ConfigurationError:
    """The error for a config that does not match the settings' schema (the SDK's findings)."""
    return ConfigurationError(
        f"The settings are not valid: {'; '.join(problems)}. Correct them "
        "(`target-influxdb --about` lists every setting with its type)."
    )


def paragraph(exc: BaseException, line: int | None) -> str:
    """A failure as one paragraph: our messages as they are, others with the number of the
    input ``line`` being processed."""
    if isinstance(exc, TargetInfluxDBError):
        return str(exc)
    where = f"Input line {line}: " if line else ""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{where}{text} ({type(exc).__name__}). Fix the tap's output and run again."


# The destination (see TargetInfluxDB.destination).


def no_database() -> ConfigurationError:
    return ConfigurationError(
        "`api_version` is v1 but `database` is not set: set `database` (and "
        "`username`/`password` if the server requires them)."
    )


def no_bucket() -> ConfigurationError:
    return ConfigurationError(
        "`api_version` is v2 but `bucket` is not set: set `bucket`, `org` and "
        "`token` (line-protocol servers such as VictoriaMetrics need only `bucket`)."
    )


def no_destination() -> ConfigurationError:
    return ConfigurationError(
        "No destination is set: set `database` for InfluxDB 1.x, or `bucket`, `org` and "
        "`token` for InfluxDB 2.x/3.x/Cloud (`bucket` alone for VictoriaMetrics)."
    )


def unclear_flavour(connection: Connection, version: str | None) -> ConfigurationError:
    said = f"version {version!r}" if version else "no X-Influxdb-Version header"
    return ConfigurationError(
        f"Both `database` (v1) and `bucket` (v2) are set, and the server at "
        f"{connection.display_url} answered /ping with {said}, so it is not clear which "
        "API to use (VictoriaMetrics, for one, accepts both). Set `api_version` to v1 or v2."
    )


# Writes.


def unreachable(connection: Connection, exc: BaseException, *, retried: bool = True) -> WriteError:
    """The error for a server that could not be reached (or kept dropping the connection)."""
    reason = connection_reason(exc)
    tries = f" (after up to {connection.max_retries} retries)" if retried else ""
    return WriteError(
        f"Cannot reach InfluxDB at {connection.display_url}{tries}: {reason}. Check the `url` "
        "setting and that the server is running and reachable from here. Nothing after the "
        "last STATE message was confirmed, so the next run repeats it."
    )


def connection_reason(exc: BaseException) -> str:
    """The innermost cause of a connection failure, without the pool's repr."""
    reason: BaseException = exc
    while True:
        inner = getattr(reason, "reason", None)
        if not isinstance(inner, BaseException) and reason.args:
            inner = reason.args[0]
        if not isinstance(inner, BaseException) or inner is reason:
            break
        reason = inner
    text = str(reason)
    return text.split("): ", 1)[-1] if text.startswith("HTTP") else text or type(reason).__name__


def server_message(text: str) -> str:
    """The error text of a response body: ``{"error": ...}`` (1.x), ``{"message": ...}`` (2.x)."""
    try:
        body: Any = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(body, dict):
        for key in ("error", "message"):
            if isinstance(body.get(key), str):
                return body[key]
    return text.strip()


_TYPE_CONFLICT = re.compile(
    r'field type conflict: input field "(?P<field>.+?)" on measurement "(?P<measurement>.+?)" '
    r"is type (?P<sent>\w+), already exists as type (?P<stored>\w+)"
)


_TAG_LIMIT = re.compile(
    r'max-values-per-tag limit exceeded \((?P<limit>[^)]*)\): .*?tag="(?P<tag>.*?)"'
)


def rejected(
    connection: Connection,
    destination: Destination,
    status: int,
    text: str,
    points: int | None = None,
) -> WriteError:
    """The error for a batch the server answered with a non-2xx status (after retries)."""
    full = server_message(text)
    message = capped(full)  # a point the server echoes may be long: 200 characters shown
    where = f"InfluxDB at {connection.display_url}"
    limit = _server_limit(full, destination)
    if limit is not None:
        return WriteError(
            f"{where} refused points of a batch for {destination.describe()} (HTTP {status}: "
            f"{message}), and will refuse them on every run: {limit} No STATE covers the batch."
        )
    conflict = _TYPE_CONFLICT.search(full)
    if conflict:
        return WriteError(
            f"Field type conflict in measurement '{conflict['measurement']}': field "
            f"'{conflict['field']}' was sent as {conflict['sent']} but {where} already stores it "
            f"as {conflict['stored']} ({destination.describe()}; HTTP {status}). A field keeps one "
            "type per shard, and this target types fields from the stream's schema. Either the "
            "schema's type for that property changed, or older data were written by another "
            "program: write to a new measurement (the `measurements` setting), or delete the old "
            "series (DROP SERIES / a new bucket or database) and load again."
        )
    if status in (401, 403):
        who = (
            "`username`/`password` are missing or wrong, or that user lacks WRITE permission "
            f'on {destination.describe()} (GRANT WRITE ON "{destination.database}" TO <user>)'
            if isinstance(destination, V1Destination)
            else "`token` is missing or wrong, or it lacks write permission on "
            f"{destination.describe()} (create one with write access to that bucket)"
        )
        return WriteError(f"{where} refused the write with HTTP {status} ({message}): the {who}.")
    if status == 404:
        return _not_found(where, destination, message)
    if isinstance(destination, V1Destination) and "retention policy not found" in message:
        return WriteError(
            f"{where} has no retention policy '{destination.retention_policy}' in "
            f"{destination.describe()} ({message}). Create it (CREATE RETENTION POLICY ...) or "
            "leave `retention_policy` unset to use the database's default."
        )
    if status == 413:
        return WriteError(
            f"{where} refused a batch as too large (HTTP 413: {message}). "
            + (
                "Lower `batch_size_rows`."
                if points != 1
                else "A single point is over the server's request size limit: raise the "
                "server's limit (e.g. `max-body-size` in InfluxDB 1.x's [http] section), or "
                "leave the largest properties out with a stream map."
            )
        )
    if status == 429 or status >= 500:
        return WriteError(
            f"{where} kept failing with HTTP {status} ({message}) after "
            f"{connection.max_retries} retries. The server is overloaded or unhealthy; nothing "
            "after the last STATE message was confirmed, so the next run repeats it."
        )
    partial = (
        " Some points of the batch may have been stored." if "partial write" in message else ""
    )
    return WriteError(
        f"{where} rejected a batch for {destination.describe()} with HTTP {status}: "
        f"{message}.{partial} The run stops without STATE for it, so the next run repeats it."
    )


def refused_delete(
    connection: Connection, destination: Destination, status: int, message: str, points: int
) -> WriteError:
    """The error for points the server would not delete (records marked deleted)."""
    who = (
        f'the user needs WRITE permission on the database (GRANT WRITE ON "{destination.database}"'
        " TO <user>), which InfluxQL's DELETE requires"
        if isinstance(destination, V1Destination)
        else "the token needs write permission on the bucket, which /api/v2/delete requires"
    )
    if status in (401, 403):
        cause = (
            f"Check `username`/`password`: {who}."
            if isinstance(destination, V1Destination)
            else f"Check `token`: {who}."
        )
    elif status in (404, 405, 501):
        cause = (
            "The server seems to have no delete API (InfluxDB 3.x and Cloud Serverless cannot "
            "delete points): load into InfluxDB 1.x or 2.x, or leave the deleted records out "
            "with a stream map filter."
        )
    else:
        cause = "Nothing after the last STATE message was confirmed, so the next run repeats it."
    return WriteError(
        f"InfluxDB at {connection.display_url} refused to delete {points} points of "
        f"{destination.describe()} (HTTP {status}: {capped(message)}), which records marked "
        f"deleted (`_sdc_deleted_at`) name. {cause}"
    )


def not_a_write_endpoint(
    connection: Connection,
    destination: Destination,
    status: int,
    headers: Mapping[str, str],
    text: str,
) -> WriteError:
    """The error for an answer that is neither 204 (stored) nor an InfluxDB refusal."""
    answer = f"HTTP {status}"
    location = headers.get("Location") or headers.get("location")
    if location:
        answer += f", a redirect to {display_url(location)}"
    body = " ".join(text.split())
    if body:
        kind = headers.get("Content-Type") or headers.get("content-type") or "a body"
        answer += f", {kind} starting {capped(body, 80)!r}"
    return WriteError(
        f"{connection.display_url} answered a write to {destination.describe()} with {answer}, "
        "where every InfluxDB (and VictoriaMetrics) write endpoint answers 204 No Content: "
        "the URL does not look like an InfluxDB write endpoint (a wrong `url`, a web server, or "
        "a proxy's login page in front of InfluxDB). The batch is not counted as stored and no "
        "STATE covers it. Correct the `url` setting: the InfluxDB server's own address (for "
        "InfluxDB 2.x, 3.x and Cloud its root URL, not a page of its web UI)."
    )


def capped(text: str, limit: int = 200) -> str:
    """``text`` cut to its first ``limit`` characters (an echoed value in a message)."""
    return text if len(text) <= limit else text[:limit] + "…"


def _server_limit(message: str, destination: Destination) -> str | None:
    """What to change for a refusal that repeats on every run, or None."""
    v1 = isinstance(destination, V1Destination)
    if "points beyond retention policy" in message:
        if v1:
            policy = (
                f'"{destination.retention_policy}"' if destination.retention_policy else ("DEFAULT")
            )
            change = (
                f"lengthen the retention policy (ALTER RETENTION POLICY {policy} ON "
                f'"{destination.database}" DURATION …), or write to a longer one '
                "(`retention_policy`)"
            )
        else:
            change = "lengthen the bucket's retention period (`influx bucket update --retention`)"
        return (
            "their times are older than what the retention policy keeps. To keep them, "
            f"{change}; to leave them out, start the tap later (its `start_date`)."
        )
    tag_limit = _TAG_LIMIT.search(message)
    if tag_limit or "max-values-per-tag limit exceeded" in message:
        tag = f"tag '{tag_limit['tag']}'" if tag_limit else "a tag"
        return (
            f"{tag} has as many values as the server's `max-values-per-tag` allows. Raise that "
            "limit in the [data] section of the InfluxDB configuration (0: no limit) and restart "
            "InfluxDB, or write the property as a field instead: leave it out of `tag_keys` "
            "for the stream."
        )
    if "max-series-per-database limit exceeded" in message:
        return (
            "the database has as many series as the server's `max-series-per-database` allows. "
            "Raise that limit in the [data] section of the InfluxDB configuration (0: no limit) "
            "and restart InfluxDB, or write fewer series: fewer tags (`tag_keys`)."
        )
    if "max key length exceeded" in message:
        return (
            "a series key (measurement and tags) with a field key is longer than 65,535 bytes. "
            "Leave the longest property out of `tag_keys` for the stream (it becomes a field), "
            "or shorten it with a stream map."
        )
    if "time outside range" in message:
        return (
            "a point's time is outside what InfluxDB can store. Fix the tap's output, or set "
            "`timestamp_key` for the stream to a property that holds the point time."
        )
    if "invalid field name" in message or "invalid tag key" in message:
        return (
            "a field or tag has a name InfluxDB reserves (such as `time`). Rename the property "
            "with a stream map (`stream_maps`)."
        )
    return None


def _not_found(where: str, destination: Destination, message: str) -> WriteError:
    if isinstance(destination, V2Destination):
        if "page not found" in message:
            return WriteError(
                f"{where} has no /api/v2/write endpoint (HTTP 404: {message}); InfluxDB 1.x "
                "before 1.8 has none. Set `api_version: v1` with `database` (and "
                "`username`/`password`)."
            )
        return WriteError(
            f"{where} cannot find {destination.describe()} (HTTP 404: {message}). Create it, "
            f"e.g. `influx bucket create --name {destination.bucket} --org "
            f"{destination.org or '<org>'}`, or correct the `bucket` and `org` settings."
        )
    if "database not found" in message:
        return WriteError(
            f"{where} has no database '{destination.database}' ({message}). Create it, e.g. "
            f"`influx -execute 'CREATE DATABASE \"{destination.database}\"'`, or correct "
            "the `database` setting."
        )
    return WriteError(
        f"{where} has no InfluxDB 1.x /write endpoint (HTTP 404: {message}). If it is "
        "InfluxDB 2.x, 3.x or Cloud, set `api_version: v2` with `bucket`, `org` and `token`."
    )
