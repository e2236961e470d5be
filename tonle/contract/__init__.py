"""The wire contract every Tonle component imports: topics, payloads, line protocol."""

from tonle.contract.floor import AndonAck, Defect
from tonle.contract.lineproto import (
    encode_block,
    escape_field_key,
    escape_measurement,
    escape_tag,
    series_key,
)
from tonle.contract.payloads import (
    MACHINE_STATES,
    REFUSAL_CODES,
    Alert,
    Command,
    CommandAck,
    Count,
    Event,
    Health,
    HealthRow,
    PayloadError,
    State,
    Status,
    Telemetry,
    decode,
    encode,
)
from tonle.contract.topics import KINDS, MachineAddress, TopicError, parse_topic, subscription

__all__ = [
    "KINDS",
    "MACHINE_STATES",
    "REFUSAL_CODES",
    "Alert",
    "AndonAck",
    "Command",
    "CommandAck",
    "Count",
    "Defect",
    "Event",
    "Health",
    "HealthRow",
    "MachineAddress",
    "PayloadError",
    "State",
    "Status",
    "Telemetry",
    "TopicError",
    "decode",
    "encode",
    "encode_block",
    "escape_field_key",
    "escape_measurement",
    "escape_tag",
    "parse_topic",
    "series_key",
    "subscription",
]
