"""Modbus devices as a Tonle source: one TCP device, or one RS-485 bus of RTU devices.

The source owns one link (a TCP connection, or a serial port) and polls each
device behind it at its own interval, one request at a time: on RS-485 only one
request may be on the wire, and a PLC's TCP stack is often no better. The
scheduler always polls the device that is due first, so a dead meter costs the
bus one `timeout_s` per attempt, and its attempts thin out (exponential backoff,
jittered, bounded) while the live devices keep their rhythm. A link that fails
(connection refused, serial port gone, or on TCP several timeouts in a row: a
half-open connection) is closed and reopened with its own backoff, never
hammered.

Readings: a Sample of the "field" registers every poll, a StateChange when the
state code changes (and on the first read; "offline" after repeated failures),
a Count when the cumulative counters change. Modbus has no acknowledgements, so
`commit()` does nothing; commands write a setpoint and read it back.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from edge_agent.sources.modbus_config import (
    CommandConfig,
    ModbusConfigError,
    ModbusRtuBusConfig,
    ModbusSourceConfig,
    ModbusTcpDeviceConfig,
    ReadBlock,
    RegisterConfig,
    RtuDeviceConfig,
    parse_modbus_source,
)
from edge_agent.sources.modbus_readings import DeviceState
from tonle.io.backoff import Backoff, BackoffPolicy
from tonle.io.clock import Clock, WallClock
from tonle.messages import N_, _, render
from tonle.protocols.modbus_registers import decode, encode
from tonle.sources.base import CommandRefused, Reading, Sink, SourceHealth

__all__ = [
    "CommandConfig",
    "ModbusConfigError",
    "ModbusHealth",
    "ModbusRtuBusConfig",
    "ModbusSource",
    "ModbusSourceConfig",
    "ModbusTcpDeviceConfig",
    "RegisterConfig",
    "RetryPolicy",
    "RtuDeviceConfig",
    "parse_modbus_source",
]


def _stop_if_cancelled() -> None:
    """Honour a cancel that a library swallowed.

    Python 3.11's `wait_for` (used inside pymodbus for connects and responses)
    returns the result instead of raising when the cancel lands just as the
    awaited future completes; the task's pending-cancel count still says "stop".
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Every retry timing of the source, in one place (tests pass a fast one).

    The waits themselves are `tonle.io.backoff` policies: a failing device waits
    2 × its poll interval, doubling up to `device_max_s`; a failing link `link_base_s`,
    doubling up to `link_max_s`; each shortened by up to `jitter` at random.
    """

    device_max_s: float = 60.0
    link_base_s: float = 1.0
    link_max_s: float = 30.0
    jitter: float = 0.25
    tcp_timeouts_before_reconnect: int = 3  # consecutive timeouts that mean a half-open TCP link
    offline_after_failures: int = 3  # consecutive failed polls before a machine is "offline"

    def link(self) -> BackoffPolicy:
        return BackoffPolicy(base_s=self.link_base_s, max_s=self.link_max_s, jitter=self.jitter)

    def device(self, interval_s: float) -> BackoffPolicy:
        base = min(2 * interval_s, self.device_max_s)
        return BackoffPolicy(base_s=base, max_s=self.device_max_s, jitter=self.jitter)


@dataclass
class ModbusHealth(SourceHealth):
    """SourceHealth plus what a technician needs to find a bad device on a bus.

    `corrupt_frames` counts answers that arrived but held nonsense: a float
    register reading NaN or infinity, a state code missing from the states table.
    """

    per_machine_timeouts: dict[str, int] = field(default_factory=dict)  # also counted in ..._errors
    per_machine_backoff_s: dict[str, float] = field(default_factory=dict)  # 0 when healthy
    link_failures: int = 0  # failed connection attempts and lost links


class _DeviceFailed(Exception):
    """One device did not answer, or answered with an error; the others are fine."""

    def __init__(self, text: str, timeout: bool) -> None:
        super().__init__(text)
        self.timeout = timeout


class _LinkDown(_DeviceFailed):
    """The link itself failed (and with it this poll): close it and reopen with backoff."""


class ModbusSource:
    """A Source for a `ModbusTcpDeviceConfig` or a `ModbusRtuBusConfig`."""

    def __init__(
        self,
        cfg: ModbusSourceConfig,
        clock: Clock | None = None,
        *,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self._clock = clock or WallClock()
        self._retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        self._link = Backoff(self._retry.link(), self._rng)  # counts failed opens and lost links
        self._timeout = cfg.timeout_s
        devs = [cfg] if isinstance(cfg, ModbusTcpDeviceConfig) else cfg.devices
        self._devices = [DeviceState.from_config(d) for d in devs]
        self._by_machine = {d.machine: d for d in self._devices}
        self._health = ModbusHealth()
        for d in self._devices:
            h = self._health
            h.per_machine_reads[d.machine] = h.per_machine_errors[d.machine] = 0
            h.per_machine_timeouts[d.machine], h.per_machine_backoff_s[d.machine] = 0, 0.0
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._bus = asyncio.Lock()  # one transaction on the wire at a time
        self._tcp_timeouts = 0
        self._ever_connected = False

    @property
    def machines(self) -> list[tuple[str, str]]:
        return [(d.machine, d.machine_type) for d in self._devices]

    @property
    def health(self) -> ModbusHealth:
        return self._health

    async def __aenter__(self) -> ModbusSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._close()

    async def commit(self) -> None:
        """Nothing to do: Modbus devices are not told what the gateway has stored."""

    # -- polling ---------------------------------------------------------------------------------
    async def run(self, sink: Sink) -> None:
        """Poll forever; the link is opened here and closed when the task ends."""
        now = self._clock.now_ns()
        for d in self._devices:
            d.due_ns = now
        try:
            while True:
                _stop_if_cancelled()
                if self._client is None:
                    await self._open(sink)
                dev = min(self._devices, key=lambda d: d.due_ns)
                wait_s = (dev.due_ns - self._clock.now_ns()) / 1e9
                if wait_s > 0:
                    await self._clock.sleep(wait_s)
                readings = await self._poll(dev)
                if readings:
                    sink(readings)
        finally:
            self._close()

    async def _open(self, sink: Sink) -> None:
        """Open the link, waiting longer after each failure; devices go offline if it stays down."""
        while True:
            _stop_if_cancelled()
            if self._link.failures:  # on the source's clock, so a virtual clock skips the wait
                await self._clock.sleep(self._link.policy.delay(self._link.failures, self._rng))
            client = self._make_client()
            try:
                async with asyncio.timeout(self._timeout):
                    ok = await client.connect()
            except TimeoutError:
                ok = False
            if ok:
                break
            client.close()
            self._link.failures += 1
            self._health.link_failures += 1
            self._health.last_error = f"{self.name}: cannot open {self._where()}"
            if self._link.failures == self._retry.offline_after_failures:
                sink(self._offline_all(now_ns=self._clock.now_ns(), why=f"cannot open {self._where()}"))
        self._client = client
        self._tcp_timeouts = 0
        self._health.connected = True
        if self._ever_connected:
            self._health.reconnects += 1
        self._ever_connected = True
        now = self._clock.now_ns()
        for d in self._devices:
            if d.failures == 0:
                d.due_ns = max(d.due_ns, now)

    def _make_client(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        """A pymodbus client that never reconnects or retries on its own: this class decides."""
        slack = self._timeout * 4  # its own response timer must never fire before ours
        cfg = self.cfg
        if isinstance(cfg, ModbusTcpDeviceConfig):
            return AsyncModbusTcpClient(cfg.host, port=cfg.port, timeout=slack, retries=0, reconnect_delay=0)
        return AsyncModbusSerialClient(
            cfg.port, baudrate=cfg.baudrate, parity=cfg.parity, stopbits=cfg.stopbits,
            bytesize=cfg.bytesize, timeout=slack, retries=0, reconnect_delay=0,
        )  # fmt: skip

    def _where(self) -> str:
        cfg = self.cfg
        return f"{cfg.host}:{cfg.port}" if isinstance(cfg, ModbusTcpDeviceConfig) else cfg.port

    def _link_lost(self, why: str) -> None:
        self._close()
        self._link.failures += 1
        self._health.link_failures += 1
        self._health.last_error = f"{self.name}: link to {self._where()} lost: {why}"

    def _close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._health.connected = False

    async def _poll(self, dev: DeviceState) -> list[Reading]:
        ts = self._clock.now_ns()
        try:
            async with self._bus:
                words = [await self._read(dev.unit, block) for block in dev.blocks]
        except _DeviceFailed as exc:
            readings = self._failed(dev, ts, exc)
            if isinstance(exc, _LinkDown):
                self._link_lost(str(exc))
            return readings
        self._succeeded(dev, ts)
        readings, problems = dev.readings(ts, words)
        if problems:
            self._health.corrupt_frames += len(problems)
            self._health.last_error = problems[-1]
        return readings

    async def _read(self, unit: int, block: ReadBlock) -> list[int]:
        if self._client is None:
            raise _LinkDown("not connected", False)
        c = self._client
        call = {
            "holding": c.read_holding_registers,
            "input": c.read_input_registers,
            "coil": c.read_coils,
            "discrete": c.read_discrete_inputs,
        }[block.function]
        response = await self._transact(unit, lambda: call(block.address, count=block.count, device_id=unit))
        if block.function in ("coil", "discrete"):
            return [int(b) for b in response.bits[: block.count]]
        if len(response.registers) != block.count:
            raise _DeviceFailed(f"asked {block.count} registers, got {len(response.registers)}", False)
        return list(response.registers)

    async def _transact(self, unit: int, request: Any) -> Any:
        """One request under our own timeout, with pymodbus's exceptions mapped to ours."""
        try:
            async with asyncio.timeout(self._timeout):
                response = await request()
        except TimeoutError:
            self._tcp_timeouts += 1
            if isinstance(self.cfg, ModbusTcpDeviceConfig) and (
                self._tcp_timeouts >= self._retry.tcp_timeouts_before_reconnect
            ):
                raise _LinkDown(f"{self._tcp_timeouts} requests in a row unanswered", True) from None
            raise _DeviceFailed(f"no answer from unit {unit} within {self._timeout:g} s", True) from None
        except ConnectionException as exc:
            raise _LinkDown(str(exc), False) from exc
        except ModbusException as exc:
            raise _DeviceFailed(f"unit {unit}: {exc}", False) from exc
        self._tcp_timeouts = 0
        if response.isError():
            code = getattr(response, "exception_code", "?")
            raise _DeviceFailed(f"unit {unit} answered with Modbus exception {code}", False)
        return response

    def _succeeded(self, dev: DeviceState, ts: int) -> None:
        dev.failures = 0
        self._link.succeeded()
        h = self._health
        h.reads += 1
        h.per_machine_reads[dev.machine] += 1
        h.per_machine_backoff_s[dev.machine] = 0.0
        interval = round(dev.interval_s * 1e9)
        dev.due_ns += interval
        if dev.due_ns <= self._clock.now_ns():  # the bus fell behind: skip missed ticks
            dev.due_ns += interval * ((self._clock.now_ns() - dev.due_ns) // interval + 1)

    def _failed(self, dev: DeviceState, ts: int, exc: _DeviceFailed) -> list[Reading]:
        dev.failures += 1
        h = self._health
        h.read_errors += 1
        h.per_machine_errors[dev.machine] += 1
        if exc.timeout:
            h.timeouts += 1
            h.per_machine_timeouts[dev.machine] += 1
        h.last_error = f"{dev.machine}: {exc}"
        wait = self._retry.device(dev.interval_s).delay(dev.failures, self._rng)
        h.per_machine_backoff_s[dev.machine] = wait
        dev.due_ns = self._clock.now_ns() + round(wait * 1e9)
        if dev.failures == self._retry.offline_after_failures:
            return dev.offline(ts, str(exc))
        return []

    def _offline_all(self, now_ns: int, why: str) -> list[Reading]:
        return [r for d in self._devices for r in d.offline(now_ns, why)]

    # -- commands --------------------------------------------------------------------------------
    async def apply(
        self, machine: str, action: str, value: float | None, *, cmd_id: str | None = None
    ) -> str:
        """Write a setpoint within its limits and, unless told not to, read it back."""
        dev = self._by_machine.get(machine)
        if dev is None:
            raise _refused(
                N_("{source} has no machine called {machine!r}"), source=self.name, machine=machine
            )
        cmd = dev.commands.get(action)
        if cmd is None:
            known = ", ".join(sorted(dev.commands)) or _("none")
            text = N_("{action!r} is not configured for {machine}; configured: {known}")
            raise _refused(text, action=action, machine=machine, known=known)
        if value is None or not cmd.min <= value <= cmd.max:
            limits = f"{cmd.min:g}..{cmd.max:g}"
            text = N_("{action} on {machine} needs a value in {limits}, got {value}")
            raise _refused(text, action=action, machine=machine, limits=limits, value=value)
        raw = value / cmd.scale if cmd.type == "float32" else round(value / cmd.scale)
        words = encode(raw, cmd.type, cmd.word_order, cmd.byte_order)
        if self._client is None:
            raise _refused(
                N_("the link to {where} is down; {action} not applied"), where=self._where(), action=action
            )
        client, unit, address = self._client, dev.unit, cmd.address
        try:
            async with self._bus:
                if len(words) == 1:  # function 6 for one register, 16 for two: what devices expect
                    write = lambda: client.write_register(address, words[0], device_id=unit)  # noqa: E731
                else:
                    write = lambda: client.write_registers(address, words, device_id=unit)  # noqa: E731
                await self._transact(unit, write)
                if not cmd.readback:
                    text = N_("{action}={value} written to register {address} (no read-back configured)")
                    return render(text, {"action": action, "value": f"{value:g}", "address": cmd.address})
                back = await self._transact(
                    unit, lambda: client.read_holding_registers(cmd.address, count=len(words), device_id=unit)
                )
        except _DeviceFailed as exc:
            text = N_("{machine}: {error}; {action} may or may not have been applied")
            raise _refused(text, machine=machine, error=exc, action=action) from exc
        if list(back.registers) != words:
            got = decode(back.registers, cmd.type, cmd.word_order, cmd.byte_order) * cmd.scale
            text = N_("read-back mismatch: wrote {value}, device reports {got}")
            raise _refused(text, value=f"{value:g}", got=f"{got:g}")
        text = N_("{action}={value} written to register {address} and read back")
        return render(text, {"action": action, "value": f"{value:g}", "address": cmd.address})


def _refused(template: str, **data: object) -> CommandRefused:
    """The device's refusal worded in the gateway's language (it becomes the ack's detail)."""
    return CommandRefused(render(template, data))
