"""`tonle demo --drill NAME` as a trainer runs it: each fault forced in its worst order, nothing lost.

Each drill waits for the state that proves its bad ordering happened (the gateway told by the
broker that nobody is subscribed, messages queued for an absent collector, the collector up with
the database down) and stops with an error when it cannot bring it about, so a drill that passes
has been through its ordering. The summary carries the counts that prove it (`drill_observed`)
and what delivery cost (re-sent messages, duplicates absorbed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tonle.app.demo_drills import DRILLS

TONLE = [sys.executable, "-m", "tonle.app.cli"]
# Long enough for a drill's outage and the catch-up; the forced orderings take a few seconds each.
DURATION_S = "30"


def drill(tmp_path: Path, name: str) -> tuple[dict[str, Any], str]:
    """Run a short headless demo with one drill; return its JSON summary and its log."""
    r = subprocess.run(
        [*TONLE, "demo", "--duration", DURATION_S, "--headless", "--drill", name, "--run-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["drill"] == name
    assert summary["lost"] == 0, summary
    assert summary["points_stored"] == summary["samples_published"]
    assert summary["still_in_spool"] == 0, "the gateway stopped with messages nobody confirmed"
    # 12 on serial, 2 on Modbus, the cutter on Sparkplug B, the pocket-setter on OPC UA, the iron's plug
    assert summary["machines"] == 17
    assert all(p["lost"] == 0 for p in summary["protocols"].values()), summary["protocols"]
    assert summary["seq_gaps"] == 0
    assert summary["gateway"]["messages_confirmed"] > 0
    for key in (
        "messages_spooled",
        "resent",
        "resend_overhead",
        "duplicates_absorbed",
        "stored_more_than_once",
    ):
        assert key in summary, key
    return summary, r.stderr


def test_every_drill_is_offered_on_the_command_line():
    r = subprocess.run([*TONLE, "demo", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert "{" + ",".join(DRILLS) + "}" in r.stdout.replace("\n", "").replace(" ", "")


def test_a_gateway_back_before_the_collector_after_a_broker_restart_loses_nothing(tmp_path: Path):
    """The issue's failing drill: the broker stops, the collector is held, the gateway reconnects first."""
    summary, log = drill(tmp_path, "broker-outage")
    seen, timings = summary["drill_observed"], summary["drill_timings"]
    assert seen["no_subscriber_pubacks"] > 0  # the broker took messages for nobody
    assert timings["collector_resumed_at_s"] >= timings["gateway_sent_first_at_s"]
    assert summary["gateway"]["messages_resent"] > 0  # the gateway kept them and sent them again
    assert summary["collector_starts"] == 1  # held (SIGSTOP), not restarted
    assert "SIGSTOP" in log


def test_a_broker_killed_holding_a_queue_for_an_absent_collector_loses_nothing(tmp_path: Path):
    summary, _ = drill(tmp_path, "broker-crash")
    seen = summary["drill_observed"]
    assert seen["queued_for_absent_collector"] >= 20
    assert seen["no_subscriber_pubacks"] > 0
    assert summary["resent"] > 0
    assert summary["collector_starts"] == 2


def test_a_broker_back_on_an_empty_disk_loses_nothing(tmp_path: Path):
    summary, _ = drill(tmp_path, "broker-disk-lost")
    seen = summary["drill_observed"]
    assert seen["queued_for_absent_collector"] >= 20
    assert seen["broker_store_bytes_lost"] > 0  # the lost disk held the queue
    assert seen["no_subscriber_pubacks"] > 0
    assert summary["resent"] > 0
    assert summary["collector_starts"] == 2


def test_a_power_cut_of_everything_restarted_in_the_worst_order_loses_nothing(tmp_path: Path):
    """Broker and gateway first (nobody subscribed), the collector with the database down, analytics last."""
    summary, _ = drill(tmp_path, "power-cut")
    t = summary["drill_timings"]
    assert (
        t["power_cut_at_s"]
        <= t["gateway_sent_first_at_s"]
        <= t["collector_up_db_down_at_s"]
        <= t["db_back_at_s"]
        <= t["collector_storing_at_s"]
        <= t["analytics_back_at_s"]
    )
    assert summary["drill_observed"]["no_subscriber_pubacks"] > 0
    assert (summary["agent_starts"], summary["collector_starts"], summary["analytics_starts"]) == (2, 2, 2)


def test_the_agent_crash_drill_loses_nothing(tmp_path: Path):
    """The broker stops mid-run and the gateway is SIGKILLed during the outage, then all comes back."""
    summary, log = drill(tmp_path, "agent-crash")
    assert summary["agent_starts"] == 2
    assert summary["drill_observed"]["spool_at_kill"] > 0
    assert "DRILL: the gateway loses power" in log
    # The pocket-setter worked on while the gateway was dead: the restarted agent read that gap
    # from the OPC UA server's history (where to start came from its spool).
    agent_log = next(tmp_path.glob("demo-*/agent.log")).read_text()
    assert "values from the OPC UA server's history to fill the gap" in agent_log
    assert summary["protocols"]["opcua"]["lost"] == 0


def test_the_database_outage_drill_loses_nothing(tmp_path: Path):
    """InfluxDB stops mid-run for at least 10 s and comes back; the collector holds and then stores it all."""
    summary, log = drill(tmp_path, "db-outage")
    assert summary["drill_timings"]["db_down_s"] >= 10
    collector = summary["collector"]
    # The collector noticed the outage: failed writes, or batches kept in its spool and replayed.
    assert collector.get("write_errors", 0) + collector.get("spooled_points", 0) > 0, collector
    assert summary["drill_observed"]["held_by_collector"] > 0  # and told the gateway it holds them
    assert summary["collector_starts"] == 1
    assert "DRILL: the database is back" in log


def test_the_collector_crash_drill_loses_nothing(tmp_path: Path):
    """The collector is SIGKILLed with a batch in flight and restarted; the broker redelivers the rest."""
    summary, log = drill(tmp_path, "collector-crash")
    assert summary["collector_starts"] == 2
    assert summary["drill_timings"]["collector_down_s"] > 0
    assert "DRILL: the collector restarts" in log


def test_an_intruder_is_refused_everywhere_and_moves_nothing(tmp_path: Path):
    """No TLS, a stolen gateway certificate, unsigned, foreign-key, altered and replayed commands."""
    summary, log = drill(tmp_path, "intruder")
    report = summary["intruder"]
    assert report["applied"] == 0 and report["not_refused"] == 0, report
    by = {a["attempt"]: (a["refused_by"], a["answer"].split(":")[0]) for a in report["attempts"]}
    assert by["connect without TLS or a certificate"][0] == "broker"
    assert by["publish data for S01 with gateway demo-gateway-l9's certificate"] == (
        "broker",
        "not authorised",
    )
    assert by["send set_speed to S01 with gateway demo-gateway-l9's certificate"] == (
        "broker",
        "not authorised",
    )
    assert by["send an unsigned set_speed"] == ("gateway", "unsigned")
    assert by["send a set_speed signed by a key no gateway trusts"] == ("gateway", "bad_signature")
    assert by["change the value of a signed set_speed"] == ("gateway", "bad_signature")
    assert by["replay a command the analytics signed, byte for byte"] == ("gateway", "replayed")
    # The audit: each refusal is stored with its code, next to the commands that were applied.
    stored = {(c["action"], c["code"]) for c in summary["commands"] if c["status"] == "refused"}
    assert {("set_speed", "unsigned"), ("set_speed", "bad_signature"), ("clear_andon", "replayed")} <= stored
    assert "DRILL: intruder: send an unsigned set_speed - refused by the gateway" in log


def test_a_rebooted_opcua_machine_is_noticed_and_subscribed_again_without_a_gateway_restart(tmp_path: Path):
    """The pocket-setter's server stops and a new one starts on its port, knowing no subscription: the
    gateway notices on its own (the source's row says disconnected), reconnects and reads again."""
    summary, log = drill(tmp_path, "opcua-restart")
    seen, timings = summary["drill_observed"], summary["drill_timings"]
    assert seen["opcua_reconnects"] >= 1
    assert timings["opcua_off_at_s"] <= timings["opcua_noticed_at_s"] <= timings["opcua_back_at_s"]
    assert timings["opcua_back_at_s"] < timings["opcua_reading_again_at_s"]
    assert summary["agent_starts"] == 1, "the gateway was not restarted"
    opcua = summary["protocols"]["opcua"]
    assert opcua["stored"] > 0 and opcua["lost"] == 0
    assert "subscribed to the pocket-setter again by itself" in log
