"""Pure core of the collector: (topic, payload bytes) -> line protocol bytes.

No I/O here, so every rule about what may be stored is tested directly. The topic
says the machine and the kind; the row table (`collector.rows.ROWS`) says how that
kind is stored. Everything a payload may carry into a tag or a field key (machine
type, health scope, field names) is validated by the decoder; the topic's names by
`parse_topic`.
"""

from __future__ import annotations

import functools

from collector.rows import ROWS, Mapped
from tonle.contract import parse_topic

__all__ = ["Mapped", "map_message"]

# Topics repeat (one per machine and kind): parsing and checking each once is enough.
_parse_topic = functools.lru_cache(maxsize=4096)(parse_topic)


def map_message(topic: str, payload: bytes) -> Mapped:
    """Decode, validate and encode one message; raise PayloadError/TopicError with a reason."""
    addr, kind = _parse_topic(topic)
    return ROWS[kind].map(topic, addr, kind, payload)
