"""The storage schema: every measurement the pipeline writes or reads, with its tags and fields.

Declared once, so the edge (which names the telemetry it computes), the collector (which
stores the messages), the analytics (which reads them and writes the KPIs), the report
and the dashboards cannot disagree on a name. Use the constants, never the spelling:
`STATE.name` in a query or a writer, `STATE.fields` for the fields and their
line-protocol types, `STORED_AS["count"]` for where a payload kind lands.

A field is `float`, `int` (line protocol `1i`) or `str`; a measurement with
`more_fields` also takes fields named at run time (a device's telemetry, a component's
health counters), all of that type. To add a measurement: declare it here, add it to
`MEASUREMENTS`, then write it (for a new payload kind, one entry in the collector's
row table, `collector/rows.py`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from tonle.contract.payloads import REFUSAL_CODES
from tonle.contract.topics import Kind
from tonle.kernels.diagnosis import FAMILIES

__all__ = [
    "ADDRESS_TAGS",
    "AGENT_HEALTH_FIELDS",
    "ALERTS",
    "ANDON",
    "ANDON_ACKS",
    "ANDON_STATUS",
    "COLLECTOR_HEALTH_FIELDS",
    "COMMANDS",
    "COMPLETENESS",
    "CURRENT_A",
    "DEFECTS",
    "DOWNTIME",
    "ENVELOPE_FIELDS",
    "EVENTS",
    "FAULT_EVIDENCE_FIELDS",
    "FLOAT",
    "INT",
    "LINE_HOUR",
    "LINE_KPI",
    "LINE_TAGS",
    "MACHINE_TAGS",
    "MEASUREMENTS",
    "OEE",
    "PDM",
    "PIPELINE",
    "POWER_KW",
    "PRODUCTION",
    "QUALITY",
    "SHIFT_KPI",
    "SOURCE_HEALTH_FIELDS",
    "SPEED_SPM",
    "STATE",
    "STATUS",
    "STORED_AS",
    "STR",
    "TELEMETRY",
    "TEMP_C",
    "VIBRATION_FIELDS",
    "FieldType",
    "Measurement",
    "measurement",
]

FieldType = Literal["float", "int", "str"]
FLOAT: FieldType = "float"
INT: FieldType = "int"
STR: FieldType = "str"

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Measurement:
    """One measurement: its name, its tags (indexed, bounded) and its typed fields."""

    name: str
    tags: tuple[str, ...]
    fields: Mapping[str, FieldType] = field(hash=False)
    more_fields: FieldType | None = None
    """The type of fields named at run time; None if `fields` is the whole set."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", MappingProxyType(dict(self.fields)))
        names = (self.name, *self.tags, *self.fields)
        bad = [n for n in names if not _KEY.fullmatch(n)]
        if bad:
            raise ValueError(f"measurement {self.name!r}: {bad} are not plain names")
        clash = set(self.tags) & set(self.fields)
        if clash or len(set(self.tags)) != len(self.tags):
            raise ValueError(f"measurement {self.name!r}: {sorted(clash) or self.tags} named twice")

    @property
    def sequenced(self) -> bool:
        """Its rows carry the sender's sequence number (`seq`), so losses can be counted."""
        return "seq" in self.fields

    def __str__(self) -> str:
        return self.name


ADDRESS_TAGS = ("site", "area", "line", "machine")
"""Where a machine sits: the tags of every per-machine row."""
LINE_TAGS = ("site", "area", "line")
"""Where a line sits: the tags of every per-line row."""
MACHINE_TAGS = (*ADDRESS_TAGS, "machine_type")


def _typed(kind: FieldType, *names: str) -> dict[str, FieldType]:
    return dict.fromkeys(names, kind)


# -- what the machines send (written by the collector) ---------------------------------

VIBRATION_FIELDS = ("vib_rms", "vib_peak", "vib_crest", "vib_kurtosis")
"""Telemetry fields the edge computes from each vibration burst."""
_SHORT = {"outer_race": "outer", "inner_race": "inner", "ball": "ball"}
ENVELOPE_FIELDS = tuple(f"env_{_SHORT[f]}" for f in FAMILIES) + tuple(
    f"env_{_SHORT[f]}_sup" for f in FAMILIES
)
"""Telemetry fields of the envelope evidence: key-line ratios, then support ratios, per family."""
FAULT_EVIDENCE_FIELDS = ("fault_outer", "fault_inner", "fault_ball", "fault_cage")
"""Telemetry fields of the fault-line evidence per burst, bits (`tonle.kernels.fault_lines`)."""
SPEED_SPM, CURRENT_A, TEMP_C, ANDON, POWER_KW = "speed_spm", "current_a", "temp_c", "andon", "power_kw"

TELEMETRY = Measurement(
    "telemetry",
    MACHINE_TAGS,
    {
        "seq": INT,
        **_typed(FLOAT, SPEED_SPM, CURRENT_A, TEMP_C, ANDON, POWER_KW),
        **_typed(FLOAT, *VIBRATION_FIELDS, *ENVELOPE_FIELDS, *FAULT_EVIDENCE_FIELDS),
    },
    more_fields=FLOAT,
)
"""Samples; the fields named here are the ones some stage computes or reads, a device may send more."""
STATE = Measurement("state", MACHINE_TAGS, {"code": INT, "seq": INT, "state": STR, "reason": STR})
"""Machine state changes; `code` is the index of `state` in `tonle.contract.MACHINE_STATES`."""
PRODUCTION = Measurement("production", MACHINE_TAGS, _typed(INT, "total", "good", "seq"))
"""Cumulative piece counters since the device started."""
EVENTS = Measurement("events", ADDRESS_TAGS, {"seq": INT, "event": STR, "detail": STR})
STATUS = Measurement("status", ADDRESS_TAGS, {"online": INT, "agent": STR, "version": STR})
"""A gateway's birth and last will (`online` is 1 or 0)."""
COMMANDS = Measurement(
    "commands",
    (*ADDRESS_TAGS, "direction"),
    {"value": FLOAT, "expires": INT}
    | _typed(
        STR, "id", "action", "status", "reason", "issued_by", "detail", "code", "claimed_key", "signer", "sig"
    ),
)
"""Commands sent (`direction` = cmd, `status` = sent) and their acknowledgements (`direction` = ack).

`claimed_key` is the key a command claims to be signed with (the payload's `key`; `key` is a
word InfluxQL keeps for itself) and `sig` its signature (so the analytics
takes back after a restart only the commands it signed itself); on an ack, `signer` is the key the gateway
verified (empty when none did) and `code` why it was refused (`tonle.contract.REFUSAL_CODES`).
`issued_by` is the sender's own label, never proof of who sent it: an audit reads `signer`."""
ALERTS = Measurement(
    "alerts", (*ADDRESS_TAGS, "severity"), {"health": FLOAT, "rul_h": FLOAT, "code": STR, "message": STR}
)
DEFECTS = Measurement("defects", (*ADDRESS_TAGS, "defect_type"), {"count": INT, "by": STR})
"""Defects found at a quality check (`machine` is the check station), by type (`tonle.contract.Defect`)."""
ANDON_ACKS = Measurement("andon_acks", ADDRESS_TAGS, {"by": STR, "note": STR})
"""A person acknowledging a station's andon (`tonle.contract.AndonAck`); the light itself is a
command (`commands`, action andon / clear_andon)."""

# -- what the components say about themselves ---------------------------------------------

COLLECTOR_HEALTH_FIELDS = (
    "messages",
    "points",
    "messages_per_s",
    "points_per_s",
    "dead_letters",
    "rejected_points",
    "names_refused",  # look-alike site, area, line or machine names refused (dead-lettered)
    "names_known",  # names the collector compares new ones with (stored, plus accepted since)
    "batches",
    "write_errors",
    "batch_ms",
    "batch_ms_p50",
    "batch_ms_p99",
    "queue_depth",
    "unacked",
    "writes_in_flight",
    "db_up",
    "spool_depth",
    "spool_mb",
    "spooled_points",
    "replayed_points",
    "confirms_sent",
    "messages_confirmed",
    "duplicates_absorbed",
)
AGENT_HEALTH_FIELDS = (
    "spool_depth",
    "spool_unsent",  # in the spool, not yet sent
    "spool_unconfirmed",  # sent, no collector has confirmed it stored yet
    "spool_held",  # a collector holds it in its own spool (database down)
    "spool_bytes",
    "spool_dropped",
    "unspooled",
    "held_readings",
    "mqtt_reconnects",
    "samples",
    "commands_applied",
    "commands_refused",
    "commands_malformed",
    "messages_confirmed",
    "messages_resent",
    "no_subscriber_pubacks",
    "source_crashes",
    "repeats_dropped",  # values a device handed out again after a reconnect, same time (edge_agent.replays)
    *(f"refused_{code}" for code in REFUSAL_CODES),  # commands refused before the machine, by reason
)
SOURCE_HEALTH_FIELDS = (
    "connected",
    "reads",
    "read_errors",
    "corrupt_frames",
    "link_reconnects",
    "timeouts",
    "completeness",
)
PIPELINE = Measurement(
    "pipeline",
    ("component", "instance", "site", "line", "device"),
    _typed(FLOAT, *dict.fromkeys((*COLLECTOR_HEALTH_FIELDS, *AGENT_HEALTH_FIELDS, *SOURCE_HEALTH_FIELDS))),
    more_fields=FLOAT,
)
"""Health counters of every component (collector rows have no site, line or device)."""
COMPLETENESS = Measurement(
    "completeness",
    (*ADDRESS_TAGS, "kind"),
    _typed(FLOAT, "expected", "received", "missing", "ratio"),
)
"""Sequence numbers expected, received and missing per stream (`kind` is the payload kind)."""

# -- what the analytics computes -------------------------------------------------------------

_LOSS_FIELDS = (
    "fully_productive_s",
    "breakdown_s",
    "setup_s",
    "starved_blocked_s",
    "minor_stop_s",
    "idle_s",
    "speed_loss_s",
    "quality_loss_s",
)
_FIGURES = _typed(
    FLOAT,
    *("availability", "performance", "quality", "oee", "planned_s", "run_s", "ideal_s"),
    *("planned_stop_s", "no_data_s", "coverage", "breakdowns", "minor_stops", "mtbf_s", "mttr_s"),
    *_LOSS_FIELDS,
    *("kwh", "idle_kwh", "kwh_per_piece"),
)
_LINE_FIGURES = {k: t for k, t in _FIGURES.items() if k not in ("kwh", "idle_kwh", "kwh_per_piece")} | {
    **_typed(FLOAT, "pieces_per_hour", "target_pph", "attainment", "efficiency", "balance_ratio"),
    **_typed(FLOAT, "bottleneck_cycle_s", "line_planned_s", "kwh", "kwh_metered", "kwh_estimated"),
    **_typed(FLOAT, "energy_coverage", "kwh_per_piece", "kwh_per_good_piece"),
    **_typed(INT, "good", "total", "energy_partial"),
    **_typed(STR, "bottleneck", "energy_worst"),
}
"""`energy_coverage` of a line is its worst power source's share of expected samples (not a
mean: one missing meter shows), `energy_worst` that source, `energy_partial` = 1 when it is
below `analytics.line_figures.ENERGY_COMPLETE` (kWh per piece is then a lower bound)."""
OEE = Measurement(
    "oee",
    ADDRESS_TAGS,
    _FIGURES
    | _typed(FLOAT, "pieces_per_hour", "effective_cycle_s", "ideal_cycle_s", "energy_coverage")
    | _typed(INT, "total", "good")
    | {"period_kind": STR},
)
"""Per machine, over the rolling window: OEE, its factors and the time, counts and energy behind them."""
LINE_KPI = Measurement("line_kpi", LINE_TAGS, _LINE_FIGURES | {"period_kind": STR})
"""Per line, over the rolling window: the pooled figures, output, balance and energy.

`oee` and `line_kpi` carry `period_kind` (shift, overtime, off_shift: `analytics.period_kind`)
of the live window. A row written before its data arrived is
written again once it has (`analytics.rolling`, docs/kpi.md "Late data")."""
SHIFT_KPI = Measurement(
    "shift_kpi",
    (*LINE_TAGS, "shift"),
    _LINE_FIGURES | _typed(INT, "period_start", "final") | _typed(STR, "period", "period_kind"),
)
"""Per line and shift, shift to date (`final` = 1 on the row written at the shift's end).

`period` is the period's label ("2026-05-29 A"), `period_kind` what it was: `shift`,
`overtime` (work outside shifts) or `off_shift`; overtime and off-shift rows carry no
availability or OEE (100 % there by construction). Rows are rewritten while their data
may still arrive (docs/kpi.md, "Late data")."""
DOWNTIME = Measurement(
    "downtime",
    (*LINE_TAGS, "shift", "cause"),
    _typed(FLOAT, "seconds", "stops") | _typed(STR, "period", "category"),
)
"""Downtime added since the previous update, per cause: `sum()` over a range is its downtime."""
LINE_HOUR = Measurement(
    "line_hour",
    LINE_TAGS,
    _typed(FLOAT, "target_pcs", "actual_pcs", "cum_target_pcs", "cum_actual_pcs", "gap_pcs", "cum_gap_pcs")
    | _typed(FLOAT, "covered_s")
    | _typed(INT, "partial")
    | _typed(STR, "period", "worst_cause"),
)
"""The hour-by-hour board: one row per line and local clock hour, stamped with the hour's start.

target/actual pieces of the hour, both summed since the shift (or off-shift stretch) began,
the gaps (actual - target), `covered_s` (seconds of the hour whose output-station state is
known), `partial` = 1 when the hour is not over or not fully covered, `period` = shift,
overtime or off_shift, and `worst_cause` (the hour's largest downtime cause, "" if none).
Rewritten while its shift is recent, so late data corrects it in place."""
PDM = Measurement(
    "pdm",
    ADDRESS_TAGS,
    _typed(FLOAT, "health", "vib_rms", "vib_kurtosis", "drift_stat", "cusum_rms", "cusum_kurtosis")
    | _typed(FLOAT, "rul_h", "rul_lower_h", "rul_upper_h", *ENVELOPE_FIELDS[: len(FAMILIES)])
    | _typed(FLOAT, "fault_confidence")
    | _typed(FLOAT, "base_rms", "base_kurtosis", "base_rms_scale", "base_kurtosis_scale")
    | _typed(INT, "drift_alarm", "fault_code", "relearning")
    | {"fault_hint": STR},
)
"""Per machine: health, drift statistics, remaining useful life and the fault evidence; the
baseline in force (`base_*`) and whether it is being relearnt, for a restarted service."""
QUALITY = Measurement(
    "quality",
    (*LINE_TAGS, "shift"),
    _typed(INT, "defects", "checked", "period_start") | {"dhu": FLOAT, "period": STR, "top_type": STR},
)
"""Per line and shift, shift to date: defects per hundred units checked (DHU) and the top type."""
ANDON_STATUS = Measurement(
    "andon_status",
    ADDRESS_TAGS,
    _typed(INT, "state", "lit", "since_ms")
    | {"minutes_lit": FLOAT}
    | _typed(STR, "reason", "ack_by", "ack_note"),
)
"""Per station, each round: its andon now (`state` 0 off, 1 lit and acknowledged, 2 lit and
waiting), since when (`since_ms`, epoch ms), why and who acknowledged it (`analytics.andon`)."""

MEASUREMENTS: tuple[Measurement, ...] = (
    TELEMETRY,
    STATE,
    PRODUCTION,
    EVENTS,
    STATUS,
    COMMANDS,
    ALERTS,
    PIPELINE,
    COMPLETENESS,
    OEE,
    LINE_KPI,
    SHIFT_KPI,
    DOWNTIME,
    LINE_HOUR,
    PDM,
    DEFECTS,
    ANDON_ACKS,
    QUALITY,
    ANDON_STATUS,
)
_BY_NAME = {m.name: m for m in MEASUREMENTS}

STORED_AS: Mapping[Kind, Measurement] = MappingProxyType(
    {
        "telemetry": TELEMETRY,
        "state": STATE,
        "count": PRODUCTION,
        "event": EVENTS,
        "status": STATUS,
        "health": PIPELINE,
        "cmd": COMMANDS,
        "cmd/ack": COMMANDS,
        "alert": ALERTS,
        "defect": DEFECTS,
        "andon/ack": ANDON_ACKS,
    }
)
"""Where the collector stores each payload kind of the wire contract (every kind in `KINDS`)."""


def measurement(name: str) -> Measurement:
    """The measurement called `name`, or KeyError if the schema does not declare it."""
    return _BY_NAME[name]
