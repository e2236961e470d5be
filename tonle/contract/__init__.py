"""The wire contract every Tonle component imports: topics, payloads, line protocol."""

from tonle.contract.lineproto import (
    encode_block,
    escape_field_key,
    escape_measurement,
    escape_tag,
    series_key,
)
from tonle.contract.payloads import (
    MACHINE_STATES,
    Alert,
    Command,
    CommandAck,
    Count,
    Event,
    PayloadError,
    State,
    Status,
    Telemetry,
    TelemetryBlock,
    decode,
    encode,
    telemetry_block,
)
from tonle.contract.topics import KINDS, MachineAddress, TopicError, parse_topic, subscription

__all__ = [
    "KINDS",
    "MACHINE_STATES",
    "Alert",
    "Command",
    "CommandAck",
    "Count",
    "Event",
    "MachineAddress",
    "PayloadError",
    "State",
    "Status",
    "Telemetry",
    "TelemetryBlock",
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
    "telemetry_block",
]
