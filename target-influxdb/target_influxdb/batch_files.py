"""The records of a BATCH message: the files of its manifest, in the encodings the SDK writes.

singer-sdk 0.54 taps write JSONL batch files (one JSON record per line, gzip-compressed: the SDK
compresses them whatever the configured compression says) and, with pyarrow installed
(``singer-sdk[parquet]``), Parquet files. This target reads JSONL plain or gzip (recognised by
its content, so a file that does not match its declared compression is still read right) and
Parquet when pyarrow is installed (``pip install 'target-influxdb[parquet]'``). Files are opened
with fsspec, so any URL it knows works (``file://``; ``s3://`` with s3fs installed, ...).

Records are yielded one at a time (Parquet in row groups of a thousand), so memory stays flat
whatever the size of a batch file. A line or record that is not a record is named by its file and
position, never shown: the tap is trusted to name its own files, but a manifest naming another
file (a ``.env``) must not put that file's content into the log.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

import fsspec

from target_influxdb.errors import StreamError
from target_influxdb.reader import decode_record, json_kind

_GZIP_MAGIC = b"\x1f\x8b"
_PARQUET_ROWS = 1000
READABLE = "JSONL (plain or gzip) and Parquet (with pyarrow installed)"


def batch_records(
    stream: str, encoding: Any, manifest: Any
) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """``(file URL, record number in the file, record)`` of every record of a BATCH message.

    The encoding is checked before any file is read: one this target cannot read raises
    :class:`StreamError` before a single record is processed.
    """
    read = _reader(stream, encoding)
    if not isinstance(manifest, Sequence) or isinstance(manifest, str):
        raise StreamError(
            f"Stream '{stream}': the BATCH message's manifest is {manifest!r}, not a list of file "
            "URLs."
        )
    for url in manifest:
        try:
            with fsspec.open(str(url), "rb") as file:
                for number, record in read(file):
                    if not isinstance(record, dict):
                        raise StreamError(
                            f"Stream '{stream}': a record is a JSON {json_kind(record)}, not an "
                            "object (what the file holds is not shown: it may be no BATCH file "
                            "at all).",
                            source=f"record {number} of BATCH file {url}",
                        )
                    yield str(url), number, record
        except (OSError, ImportError) as exc:
            raise StreamError(
                f"Stream '{stream}': cannot read BATCH file {url}: {exc} "
                f"({type(exc).__name__}). Check that the file exists and can be read from here "
                "(the tap and the target must see the same storage).",
            ) from None
        except (ValueError, EOFError) as exc:
            raise StreamError(
                f"Stream '{stream}': BATCH file {url} is not in the encoding its message "
                f"declares ({dict(encoding)!r}): {exc} ({type(exc).__name__}).",
            ) from None


def _reader(stream: str, encoding: Any) -> Any:
    """The function that yields ``(number, record)`` of one open file in ``encoding``."""
    if not isinstance(encoding, Mapping):
        encoding = {}
    kind = encoding.get("format")
    compression = encoding.get("compression")
    if kind == "jsonl" and compression in (None, "none", "gzip"):
        return _jsonl_records
    if kind == "parquet":
        try:
            import pyarrow.parquet  # noqa: F401 - optional: only for Parquet
        except ImportError:
            raise StreamError(
                f"Stream '{stream}': a BATCH message has Parquet files, and pyarrow is not "
                "installed: install the target with its Parquet extra (pip install "
                "'target-influxdb[parquet]'), or set the tap's `batch_config` encoding to "
                '{"format": "jsonl", "compression": "gzip"}.'
            ) from None
        return _parquet_records
    raise StreamError(
        f"Stream '{stream}': a BATCH message has files of encoding {dict(encoding)!r}, which "
        f"this target cannot read; it reads {READABLE}. Set the tap's `batch_config` encoding "
        'to {"format": "jsonl", "compression": "gzip"}.'
    )


def _jsonl_records(file: IO[bytes]) -> Iterator[tuple[int, Any]]:
    head = file.read(2)
    file.seek(0)
    lines = io.BufferedReader(gzip.GzipFile(fileobj=file)) if head == _GZIP_MAGIC else file
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                record = decode_record(line)
            except ValueError as exc:  # its message says what, never what the line holds
                raise ValueError(f"line {number} is not a JSON record ({exc})") from None
            yield number, record


def _parquet_records(file: IO[bytes]) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq  # optional: only for Parquet

    number = 0
    for rows in pq.ParquetFile(file).iter_batches(batch_size=_PARQUET_ROWS):
        for record in rows.to_pylist():
            number += 1
            yield number, record
