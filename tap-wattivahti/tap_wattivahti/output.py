"""How the tap writes its Singer messages: the SDK's writer with a faster JSON encoder.

singer-sdk 0.54.9's writer (``SimpleSingerWriter``) encodes each message with simplejson
(``use_decimal``, a Python hook for the message's ``time_extracted``), which takes most of a
record's time on its way out: 20 to 27 µs for a ``costs`` record of ten numbers, more than
pricing it. msgspec (the encoder of singer-sdk's ``msgspec`` extra) writes JSON that reads
back the same in a tenth of that. The writer is the tap's public ``message_writer_class``;
everything else about writing (one line per message on ``sys.stdout``, flushed) stays the
SDK's. See docs/library-notes.md#sdk-message-writer for what is and is not the same text.
"""

from __future__ import annotations

import functools
import typing as t

from singer_sdk.singerlib import RecordMessage
from singer_sdk.singerlib.encoding import SimpleSingerWriter
from typing_extensions import override

if t.TYPE_CHECKING:
    from singer_sdk.singerlib import Message


@functools.cache
def _encode() -> t.Callable[[t.Any], bytes]:
    """msgspec's encoder, Decimals as JSON numbers (``str`` of the Decimal, as the SDK's
    ``use_decimal`` writes them); imported at the first record, since its import (about 30 ms
    after the SDK's) is not needed by ``--about`` or ``--discover``."""
    import msgspec

    return msgspec.json.Encoder(decimal_format="number").encode


class Writer(SimpleSingerWriter):
    """The SDK's writer, RECORD messages encoded by msgspec."""

    @override
    def serialize_message(self, message: Message) -> str:
        """One message's JSON: a RECORD message's by msgspec (its ``time_extracted`` in the
        SDK's ``isoformat``, which msgspec would write with ``Z``, and which Python 3.10's
        ``fromisoformat`` in a target cannot read), unless its text is not ASCII (the SDK's
        escapes such characters); every other message, and those, the SDK's way."""
        if not isinstance(message, RecordMessage):
            return super().serialize_message(message)
        data = message.to_dict()
        extracted = data.get("time_extracted")
        if extracted is not None:
            data["time_extracted"] = extracted.isoformat()
        line = _encode()(data)
        return line.decode() if line.isascii() else super().serialize_message(message)
