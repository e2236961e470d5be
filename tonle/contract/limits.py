"""The numbers and names a v1 payload must keep to, shared by the decoder and its reasons.

Kept apart from the structs so the reasons (`tonle.contract.explain`) can quote the
limits without importing the decoder that raises them.
"""

from __future__ import annotations

__all__ = [
    "ABS_MAX",
    "HEALTH_RESERVED_FIELDS",
    "MAX_BATCH",
    "MAX_FIELDS",
    "MAX_PAYLOAD_BYTES",
    "NAME_PATTERN",
    "PAYLOAD_VERSION",
    "SEQ_MAX",
    "TELEMETRY_RESERVED_FIELDS",
    "TS_MAX",
    "TS_MIN",
]

PAYLOAD_VERSION = 1
# A message is decoded in one piece on the collector's event loop: this bounds
# the memory and the pause one message can cost. 4 MiB holds a columnar batch of
# ~100k samples of two fields; larger batches belong in several messages.
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
MAX_BATCH = 100_000
MAX_FIELDS = 64
SEQ_MAX = 2**63 - 1
# Source timestamps must fall between 2000-01-01 and 2100-01-01: anything else
# is a device clock that was never set, or a unit error (s or ms sent as ns).
TS_MIN = 946_684_800_000_000_000
TS_MAX = 4_102_444_800_000_000_000
ABS_MAX = 1e15
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
"""A field, event, component or machine-type name (1 to 64 characters)."""

# Field names that would collide with what the collector writes next to them.
# A telemetry field called `machine` makes every `WHERE machine = '...'` query on
# the measurement match nothing (InfluxDB 1.x prefers the field over the tag);
# `seq` as a float field would fix the type of the collector's integer `seq`
# and get every later point rejected; InfluxDB drops a field called `time`, and
# 2.x/3.x reserve `_field` and `_measurement`. The storage schema
# (`tonle.schema.TELEMETRY`, `PIPELINE`) declares the same tags; a test keeps them in step.
_INFLUX_RESERVED = ("time", "_field", "_measurement")
TELEMETRY_RESERVED_FIELDS = frozenset(
    {"seq", "site", "area", "line", "machine", "machine_type", *_INFLUX_RESERVED}
)
HEALTH_RESERVED_FIELDS = frozenset({"component", "instance", "site", "line", "device", *_INFLUX_RESERVED})
