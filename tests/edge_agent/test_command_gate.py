"""The command gate: allow-list, limits, expiry and idempotence, before any machine moves."""

from __future__ import annotations

import pytest

from edge_agent.commands import Bounds, CommandGate, CommandLog, Decision, DeviceLimits, MemoryLog
from tonle.contract import Command

NOW = 1_780_000_000_000_000_000
WINDOW = (3600 + 30) * 10**9  # the default longest expiry and clock skew
OLD = NOW - 2 * WINDOW
LIMITS = DeviceLimits(allowed=frozenset({"set_speed", "maintenance"}), ranges={"set_speed": (0.5, 1.0)})


def cmd(
    action: str = "set_speed",
    value: float | None = 0.7,
    id: str = "c1",
    expires: int = NOW + 10**9,
    ts: int = NOW,
) -> Command:
    return Command(v=1, id=id, ts=ts, expires=expires, action=action, reason="test", value=value)  # type: ignore[arg-type]


def test_a_command_inside_the_limits_passes():
    assert CommandGate({"S01": LIMITS}).check("S01", cmd(), NOW).status == "applied"


def test_a_value_outside_the_limits_is_rejected_with_the_range():
    d = CommandGate({"S01": LIMITS}).check("S01", cmd(value=0.2), NOW)
    assert d.status == "rejected"
    assert "0.5..1" in d.detail


def test_a_missing_value_is_rejected():
    assert CommandGate({"S01": LIMITS}).check("S01", cmd(value=None), NOW).status == "rejected"


def test_an_action_not_on_the_allow_list_is_rejected():
    d = CommandGate({"S01": LIMITS}).check("S01", cmd(action="andon", value=1.0), NOW)
    assert d.status == "rejected"
    assert "maintenance, set_speed" in d.detail


def test_an_expired_command_is_not_applied():
    assert CommandGate({"S01": LIMITS}).check("S01", cmd(expires=NOW - 1), NOW).status == "expired"


def test_a_machine_this_gateway_does_not_own_is_refused():
    d = CommandGate({"S01": LIMITS}).check("S99", cmd(), NOW)
    assert (d.status, d.code) == ("refused", "not_owned")


def test_the_same_id_is_applied_at_most_once():
    gate = CommandGate({"S01": LIMITS})
    first = gate.check("S01", cmd(), NOW)
    gate.record("c1", Decision("applied", "speed set"))
    assert first.status == "applied"
    again = gate.check("S01", cmd(), NOW)
    assert again.status == "duplicate"
    assert "applied" in again.detail


def test_the_memory_of_ids_is_bounded():
    """Beyond the last `remember`, ids older than the longest allowed expiry are forgotten."""
    gate = CommandGate({"S01": LIMITS}, MemoryLog(remember=3))
    for i in range(5):
        gate.record(f"c{i}", Decision("applied", "", OLD + i))
    gate.record("c5", Decision("applied", "", NOW))
    assert gate.check("S01", cmd(id="c0"), NOW).status == "applied"
    assert gate.check("S01", cmd(id="c4"), NOW).status == "duplicate"


def test_command_outcomes_survive_a_restart_of_the_agent(tmp_path):
    log = CommandLog(tmp_path / "commands.sqlite", remember=2)
    CommandGate({"S01": LIMITS}, log).record("c1", Decision("applied", "speed set"))
    log.close()
    reopened = CommandGate({"S01": LIMITS}, CommandLog(tmp_path / "commands.sqlite", remember=2))
    assert reopened.check("S01", cmd(id="c1"), NOW).status == "duplicate"
    for i in range(2, 5):
        reopened.record(f"c{i}", Decision("applied", "", NOW + 2 * WINDOW))
    later = cmd(id="c1", ts=NOW + 2 * WINDOW, expires=NOW + 2 * WINDOW + 10**9)
    assert reopened.check("S01", later, NOW + 2 * WINDOW).status == "applied"  # forgotten: bounded


@pytest.mark.parametrize("make_log", [lambda p: MemoryLog(remember=2), lambda p: CommandLog(p, remember=2)])
def test_an_id_is_remembered_for_the_longest_allowed_expiry_however_many_come_after(tmp_path, make_log):
    """A flood of commands must not push an id out while a replay of it could still be valid."""
    gate = CommandGate({"S01": LIMITS}, make_log(tmp_path / "commands.sqlite"), Bounds(3600, 30))
    assert gate.check("S01", cmd(id="c1"), NOW).accepted
    for i in range(2, 50):
        gate.record(f"c{i}", Decision("applied", "", NOW + WINDOW - 10**9))
    again = gate.check("S01", cmd(id="c1", expires=NOW + WINDOW), NOW + WINDOW - 10**9)
    assert (again.status, again.code) == ("duplicate", "replayed")


def test_the_shipped_example_gateway_configs_are_valid(monkeypatch):
    from pathlib import Path

    from edge_agent.config import load_gateway_config

    monkeypatch.setenv("MQTT_PASSWORD", "x")
    examples = sorted((Path(__file__).resolve().parents[2] / "examples").glob("gateway-*.toml"))
    assert len(examples) >= 2
    for path in examples:
        cfg = load_gateway_config(path)
        assert cfg.devices, path


def test_an_id_seen_again_is_answered_with_its_first_ack():
    """The first ack may have been lost: the sender learns the real outcome, and the two acks
    are one point in InfluxDB (same time, status and detail)."""
    gate = CommandGate({"S01": LIMITS})
    c = cmd()
    assert gate.check("S01", c, NOW).accepted
    gate.record(c.id, Decision("applied", "speed set to 70 %", NOW + 5))
    again = gate.check("S01", c, NOW + 60 * 10**9)
    assert again.status == "duplicate" and not again.accepted
    ack = gate.answer(c, again)
    assert (ack.id, ack.ts, ack.status, ack.detail) == (c.id, NOW + 5, "applied", "speed set to 70 %")


def test_a_refusal_seen_again_is_answered_with_the_same_refusal():
    gate = CommandGate({"S01": LIMITS})
    first = gate.check("S01", cmd(value=0.2), NOW)
    again = gate.check("S01", cmd(value=0.2), NOW + 10**9)
    assert gate.answer(cmd(), again) == gate.answer(cmd(), first)
    assert gate.answer(cmd(), again).status == "rejected"


def test_the_first_ack_is_repeated_after_a_restart_of_the_agent(tmp_path):
    log = CommandLog(tmp_path / "commands.sqlite")
    CommandGate({"S01": LIMITS}, log).record("c1", Decision("applied", "speed set", NOW + 7))
    log.close()
    gate = CommandGate({"S01": LIMITS}, CommandLog(tmp_path / "commands.sqlite"))
    ack = gate.answer(cmd(), gate.check("S01", cmd(), NOW + 10**9))
    assert (ack.ts, ack.status, ack.detail) == (NOW + 7, "applied", "speed set")


def test_a_command_log_written_before_acks_were_repeated_still_opens(tmp_path):
    import sqlite3

    path = tmp_path / "commands.sqlite"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE commands (n INTEGER PRIMARY KEY, id TEXT UNIQUE, status TEXT, detail TEXT)")
    old.execute("INSERT INTO commands (id, status, detail) VALUES ('c1', 'applied', 'speed set')")
    old.commit()
    old.close()
    gate = CommandGate({"S01": LIMITS}, CommandLog(path))
    again = gate.check("S01", cmd(), NOW)
    ack = gate.answer(cmd(), again)
    assert (ack.status, ack.detail, ack.ts) == ("applied", "speed set", NOW)  # no first time: now
    gate.record("c2", Decision("applied", "", NOW + 1))
    assert gate.check("S01", cmd(id="c2"), NOW).original == Decision("applied", "", NOW + 1)


def test_a_gateway_that_died_while_applying_never_applies_the_id_again(tmp_path):
    """Power lost after the gate said yes and before the outcome was written: at most once, even then."""
    log = CommandLog(tmp_path / "commands.sqlite")
    assert CommandGate({"S01": LIMITS}, log).check("S01", cmd(), NOW).accepted  # ... and the power goes
    log.close()
    gate = CommandGate({"S01": LIMITS}, CommandLog(tmp_path / "commands.sqlite"))
    again = gate.check("S01", cmd(), NOW + 10**9)
    assert not again.accepted
    ack = gate.answer(cmd(), again)
    assert ack.status == "duplicate"
    assert "stopped while applying" in ack.detail


def test_a_command_stamped_further_ahead_than_the_allowed_skew_is_refused():
    gate = CommandGate({"S01": LIMITS}, bounds=Bounds(max_expiry_s=3600, max_skew_s=30))
    assert gate.check("S01", cmd(id="ok", ts=NOW + 29 * 10**9, expires=NOW + 60 * 10**9), NOW).accepted
    d = gate.check("S01", cmd(id="c2", ts=NOW + 86_400 * 10**9, expires=NOW + 86_401 * 10**9), NOW)
    assert (d.status, d.code) == ("refused", "from_the_future")
    assert "NTP" in d.detail


def test_a_command_that_expires_further_out_than_allowed_is_refused():
    gate = CommandGate({"S01": LIMITS}, bounds=Bounds(max_expiry_s=3600, max_skew_s=30))
    assert gate.check("S01", cmd(id="ok", expires=NOW + 3600 * 10**9), NOW).accepted
    d = gate.check("S01", cmd(id="c2", expires=NOW + 10 * 365 * 86_400 * 10**9), NOW)
    assert (d.status, d.code) == ("refused", "expiry_too_far")
    assert "command_max_expiry_s" in d.detail


def test_an_id_seen_again_is_audited_as_a_replay_after_its_first_ack():
    """The sender gets the first ack; the audit ack is a point of its own, refused as replayed."""
    gate = CommandGate({"S01": LIMITS})
    c = cmd()
    gate.check("S01", c, NOW, signer="analytics")
    gate.record(c.id, Decision("applied", "speed set", NOW, signer="analytics"))
    again = gate.check("S01", c, NOW, signer="mallory")
    first, audit = gate.answer(c, again), gate.replay_ack(c, again)
    assert (first.status, first.signer, first.ts) == ("applied", "analytics", NOW)
    assert (audit.status, audit.code, audit.signer) == ("refused", "replayed", "mallory")
    assert audit.ts > first.ts  # never merged into the first ack's point


def test_a_command_log_written_before_commands_were_signed_still_opens(tmp_path):
    import sqlite3

    path = tmp_path / "commands.sqlite"
    old = sqlite3.connect(path)
    old.execute(
        "CREATE TABLE commands (n INTEGER PRIMARY KEY, id TEXT UNIQUE, status TEXT, detail TEXT, "
        "ts INTEGER NOT NULL DEFAULT 0)"
    )
    old.execute("INSERT INTO commands (id, status, detail, ts) VALUES ('c1', 'applied', 'speed set', 5)")
    old.commit()
    old.close()
    again = CommandGate({"S01": LIMITS}, CommandLog(path)).check("S01", cmd(), NOW)
    assert again.original == Decision("applied", "speed set", 5)
