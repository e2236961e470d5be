"""One validated TOML configuration file, with environment overrides.

A technician edits one file. A misspelt key is an error naming the key and the
keys that are allowed there, never a silent default. Any value can be
overridden from the environment as TONLE_<SECTION>_<KEY> (for example
TONLE_MQTT_HOST=10.0.0.5), which is how docker-compose injects addresses.
Secrets are never in the file: a `password_env` key names the variable that
holds the password.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from tonle.config.pdm import DEFAULT_MACHINE_TYPES, SEWING_BAND_HZ, MachineTypePdm, PdmConfig

__all__ = [
    "DEFAULT_MACHINE_TYPES",
    "SEWING_BAND_HZ",
    "AgentConfig",
    "AnalyticsConfig",
    "AnalyticsPdmConfig",
    "CollectorConfig",
    "ConfigError",
    "InfluxConfig",
    "LineConfig",
    "MqttConfig",
    "RulesConfig",
    "ShiftConfig",
    "ShiftsConfig",
    "SimConfig",
    "TonleConfig",
    "load_config",
    "parse_config",
]

ENV_PREFIX = "TONLE_"
T = TypeVar("T", bound=msgspec.Struct)

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
PosFloat = Annotated[float, msgspec.Meta(gt=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]
PosInt = Annotated[int, msgspec.Meta(ge=1)]


class ConfigError(ValueError):
    """The configuration is wrong; the message names the key and the fix."""


class _Section(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class MqttConfig(_Section):
    host: str = "127.0.0.1"
    port: Port = 1883
    username: str = ""
    password_env: str = ""
    client_id: str = ""

    def password(self) -> str | None:
        return _secret(self.password_env, "mqtt.password_env")


class InfluxConfig(_Section):
    """Where the collector stores points.

    `api` picks the write endpoint: "v1" is `/write` with `database` (InfluxDB 1.x,
    3.x); "v2" is `/api/v2/write` with `org` and `bucket` (InfluxDB 2.x, 3.x, Cloud,
    VictoriaMetrics; the bucket defaults to `database`). A v2 token is never in the
    file: `token_env` names the environment variable that holds it.
    """

    url: str = "http://127.0.0.1:8086"
    database: str = "tonle"
    username: str = ""
    password_env: str = ""
    gzip: bool = False
    timeout_s: PosFloat = 30.0
    api: Literal["v1", "v2"] = "v1"
    org: str = ""
    bucket: str = ""
    token_env: str = ""

    def __post_init__(self) -> None:
        if self.api == "v2" and not (self.bucket or self.database):
            raise ConfigError(
                "'influxdb.api' is v2 but neither 'influxdb.bucket' nor 'influxdb.database' is set; "
                "set 'influxdb.bucket' to the bucket to write to"
            )
        if self.api == "v1":
            for key in ("org", "bucket", "token_env"):
                if getattr(self, key):
                    raise ConfigError(
                        f"'influxdb.{key}' is only used when 'influxdb.api' is v2; set api = 'v2' or remove "
                        "the key (the v1 API writes to 'influxdb.database' with username and password_env)"
                    )

    def password(self) -> str | None:
        return _secret(self.password_env, "influxdb.password_env")

    def token(self) -> str | None:
        return _secret(self.token_env, "influxdb.token_env")

    def v2_bucket(self) -> str:
        """The bucket a v2 writer writes to: `bucket`, or the database name when unset."""
        return self.bucket or self.database


class CollectorConfig(_Section):
    batch_points: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 5000
    batch_wait_ms: Annotated[int, msgspec.Meta(ge=1, le=60_000)] = 200
    receive_maximum: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 2000
    share_group: str = "collectors"
    instance: str = ""
    health_interval_s: PosFloat = 5.0
    deadletter_topic: str = "tonle/_deadletter"
    # Batches written to the database at once: the next batch is decoded while
    # the last one is being stored (2 keeps a 2-core gateway's database busy).
    writes_in_flight: Annotated[int, msgspec.Meta(ge=1, le=16)] = 2
    # Durable spool for database outages: a batch the database cannot take goes
    # here, its MQTT messages are acknowledged, and it is replayed when the
    # database returns. When the spool is full, the collector stops acknowledging
    # and the broker (then the gateways' spools) hold the data. 0 = no spool.
    spool_path: str = "run/collector-spool.sqlite"
    spool_max_mb: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 1024
    # Data completeness per machine from the stored sequence numbers, so it is
    # right however many collectors share the stream: over the last horizon_h
    # hours ending lag_s before now, every interval_s (collector/completeness.py).
    completeness_interval_s: PosFloat = 60.0
    completeness_lag_s: Annotated[float, msgspec.Meta(ge=0)] = 120.0
    completeness_horizon_h: Annotated[float, msgspec.Meta(gt=0, le=24 * 31)] = 24.0


class RulesConfig(_Section):
    derate_below: Fraction = 0.6
    derate_clear_above: Fraction = 0.75
    derate_to: Annotated[float, msgspec.Meta(ge=0.3, le=1.0)] = 0.7
    maintenance_below: Fraction = 0.35
    maintenance_clear_above: Fraction = 0.8
    command_ttl_s: PosFloat = 120.0
    andon_on_breakdown: bool = True


class LineConfig(_Section):
    """Engineering data for one line: the operation bulletin a garment IE keeps."""

    target_pph: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    operators: Annotated[int, msgspec.Meta(ge=0)] = 0  # 0 = one operator per station
    sam_min: dict[str, Annotated[float, msgspec.Meta(gt=0, le=600)]] = msgspec.field(default_factory=dict)


class ShiftConfig(_Section):
    """One shift in the plant's local time; `breaks` are planned stops inside it ("11:00-12:00")."""

    name: str
    start: str
    end: str
    breaks: list[str] = msgspec.field(default_factory=list)


def _default_shifts() -> list[ShiftConfig]:
    return [
        ShiftConfig(name="A", start="06:00", end="14:00", breaks=["11:00-12:00"]),
        ShiftConfig(name="B", start="14:00", end="22:00", breaks=["18:00-18:30"]),
    ]


class ShiftsConfig(_Section):
    """The plant's shift calendar: planned production time is shift time minus breaks.

    OEE divides by planned time, so lunch and the night nobody works must not count as
    lost time. Checked once here (times, breaks inside their shift, no overlaps, a known
    time zone) so a typo is a config error, not a wrong OEE at 3 a.m.
    `update_s` is how often the service rewrites the figures of the shift so far.
    """

    tz: str = "Asia/Phnom_Penh"
    workdays: list[Annotated[int, msgspec.Meta(ge=1, le=7)]] = msgspec.field(
        default_factory=lambda: [1, 2, 3, 4, 5, 6]
    )
    shifts: list[ShiftConfig] = msgspec.field(default_factory=_default_shifts)
    update_s: PosFloat = 60.0

    def __post_init__(self) -> None:
        self.calendar()  # raises ConfigError naming the shift and the fix

    def calendar(self) -> Any:
        """The `tonle.kernels.shifts.ShiftCalendar` this section describes."""
        from tonle.kernels.shifts import Shift, ShiftCalendar  # the gateway never needs it

        try:
            shifts = tuple(
                Shift(s.name, s.start, s.end, tuple(_break(s.name, b) for b in s.breaks)) for s in self.shifts
            )
            for shift in shifts:
                _ = shift.length  # checks start and end, naming the shift
            cal = ShiftCalendar(shifts=shifts, tz=self.tz, workdays=frozenset(self.workdays))
            cal.periods(_A_MONDAY_NS, _A_MONDAY_NS + 8 * 86_400 * 10**9)  # a week: catches overlaps
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        return cal


_A_MONDAY_NS = 1_704_067_200 * 10**9  # 2024-01-01 00:00 UTC


def _break(shift: str, text: str) -> tuple[str, str]:
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"shift {shift!r}: break {text!r} must be 'HH:MM-HH:MM', e.g. '11:00-12:00'")
    return start.strip(), end.strip()


class AnalyticsPdmConfig(PdmConfig, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """`[analytics.pdm]`: the PdM core's settings plus how the service acts on them.

    rul_horizon_h:    derate (and alert) when the early end of the RUL band is closer than
                      this: the time the plant needs to get a bearing and a mechanic.
    min_interval_s:   shortest time between two PdM alerts for one machine, so a machine
                      that keeps getting worse does not flood the technician's phone.
    history_s:        how much health history the RUL trend is fitted on.
    """

    machine_types: dict[str, MachineTypePdm] = msgspec.field(
        default_factory=lambda: dict(DEFAULT_MACHINE_TYPES)
    )
    rul_horizon_h: PosFloat = 8.0
    min_interval_s: PosFloat = 600.0
    history_s: PosFloat = 4 * 3600.0


class AnalyticsConfig(_Section):
    site: str = "+"
    interval_s: PosFloat = 5.0
    window_s: PosFloat = 600.0
    health_window_s: PosFloat = 60.0
    baseline_samples: PosInt = 6
    fail_rms_ratio: Annotated[float, msgspec.Meta(gt=1)] = 3.0
    rules: RulesConfig = msgspec.field(default_factory=RulesConfig)
    pdm: AnalyticsPdmConfig = msgspec.field(default_factory=AnalyticsPdmConfig)
    lines: dict[str, LineConfig] = msgspec.field(default_factory=dict)
    shifts: ShiftsConfig = msgspec.field(default_factory=ShiftsConfig)
    # Energy of machines with only a current sensor (a clamp on the motor lead) is
    # estimated as volts x amps x power factor; machines and meters that report
    # `power_kw` are used as they are. Cambodia's mains are 230 V.
    motor_supply_v: PosFloat = 230.0
    motor_power_factor: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.75
    # Power is read as the mean of each `power_step_s` bucket (a server-side GROUP BY).
    power_step_s: Annotated[float, msgspec.Meta(ge=1, le=300)] = 10.0
    # When a line has sent nothing (no telemetry, state or count) for this long, its
    # machines' states are no longer known: the time after is counted as missing data.
    silence_s: PosFloat = 60.0


class SimConfig(_Section):
    stations: Annotated[int, msgspec.Meta(ge=1, le=200)] = 12
    seed: int = 1
    wearing_station: int = 6
    wear_acceleration: PosFloat = 1.0
    maintenance_s: PosFloat = 600.0
    publish_interval_s: PosFloat = 1.0


class AgentConfig(_Section):
    id: str = "gateway-1"
    site: str = "demo-plant"
    area: str = "sewing"
    line: str = "L1"
    publish_interval_s: PosFloat = 1.0
    health_interval_s: PosFloat = 10.0
    speed_min: Annotated[float, msgspec.Meta(ge=0.1, le=1.0)] = 0.5
    speed_max: Annotated[float, msgspec.Meta(ge=0.1, le=1.0)] = 1.0
    allowed_commands: list[str] = msgspec.field(
        default_factory=lambda: ["set_speed", "maintenance", "andon", "clear_andon"]
    )


class TonleConfig(_Section):
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    influxdb: InfluxConfig = msgspec.field(default_factory=InfluxConfig)
    collector: CollectorConfig = msgspec.field(default_factory=CollectorConfig)
    analytics: AnalyticsConfig = msgspec.field(default_factory=AnalyticsConfig)
    agent: AgentConfig = msgspec.field(default_factory=AgentConfig)
    sim: SimConfig = msgspec.field(default_factory=SimConfig)

    def check(self) -> None:
        _check_relations(self)


def _secret(env_name: str, key: str) -> str | None:
    if not env_name:
        return None
    value = os.environ.get(env_name)
    if value is None:
        raise ConfigError(
            f"{key} says the password is in the environment variable {env_name}, "
            f"but {env_name} is not set; set it (e.g. in .env) or clear {key}"
        )
    return value


def _fields(cls: type[msgspec.Struct]) -> dict[str, Any]:
    return {f.name: f.type for f in msgspec.structs.fields(cls)}


def _check_keys(data: Mapping[str, Any], cls: type[msgspec.Struct], path: str) -> None:
    """Name the first unknown key with its full path and the keys allowed there."""
    fields = _fields(cls)
    for key, value in data.items():
        where = f"{path}.{key}" if path else key
        if key not in fields:
            raise ConfigError(f"unknown key '{where}'; allowed here: {', '.join(sorted(fields))}")
        sub = fields[key]
        if isinstance(sub, type) and issubclass(sub, msgspec.Struct):
            if not isinstance(value, Mapping):
                raise ConfigError(f"'{where}' must be a [{where}] section, not {value!r}")
            _check_keys(value, sub, where)


def _env_overrides(env: Mapping[str, str], root: type[msgspec.Struct]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    top = {k: v for k, v in _fields(root).items() if isinstance(v, type) and issubclass(v, msgspec.Struct)}
    for name, raw in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section = next((s for s in top if rest.startswith(s + "_")), None)
        if section is None:
            continue
        key = rest[len(section) + 1 :]
        if key not in _fields(top[section]):
            raise ConfigError(
                f"environment variable {name} sets unknown key '{section}.{key}'; "
                f"allowed: {', '.join(sorted(_fields(top[section])))}"
            )
        out.setdefault(section, {})[key] = _parse_env_value(raw)
    return out


def _parse_env_value(raw: str) -> Any:
    """Environment values are TOML literals when they parse as one, else plain strings."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def parse_config(
    data: Mapping[str, Any],
    env: Mapping[str, str] | None = None,
    source: str = "config",
    root: type[T] = TonleConfig,  # type: ignore[assignment]
) -> T:
    """Validate `data` into `root`; TONLE_<SECTION>_<KEY> variables override file values."""
    merged: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in data.items()}
    _check_keys(merged, root, "")
    for section, values in _env_overrides(os.environ if env is None else env, root).items():
        merged.setdefault(section, {}).update(values)
    try:
        cfg = msgspec.convert(merged, root, str_keys=True)
    except msgspec.ValidationError as exc:
        msg = str(exc)
        if " - at `$." in msg:
            text, where = msg.rsplit(" - at `$.", 1)
            raise ConfigError(f"{source}: '{where.rstrip('`')}': {text}") from exc
        raise ConfigError(f"{source}: {msg}") from exc
    check = getattr(cfg, "check", None)
    if check is not None:
        check()
    return cfg


def _check_relations(cfg: TonleConfig) -> None:
    r = cfg.analytics.rules
    if r.derate_clear_above <= r.derate_below:
        raise ConfigError(
            "'analytics.rules.derate_clear_above' must be above 'analytics.rules.derate_below' "
            "(the gap is the hysteresis that stops commands flapping)"
        )
    if r.maintenance_clear_above <= r.maintenance_below:
        raise ConfigError(
            "'analytics.rules.maintenance_clear_above' must be above 'analytics.rules.maintenance_below'"
        )
    if cfg.agent.speed_min > cfg.agent.speed_max:
        raise ConfigError("'agent.speed_min' is above 'agent.speed_max'; swap them")


def load_config(
    path: str | Path | None,
    env: Mapping[str, str] | None = None,
    root: type[T] = TonleConfig,  # type: ignore[assignment]
) -> T:
    """Read and validate a config file (or only defaults and environment when `path` is None)."""
    if path is None:
        return parse_config({}, env, "defaults", root)
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {p} does not exist; check the path") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p} is not valid TOML: {exc}") from exc
    return parse_config(data, env, str(p), root)
