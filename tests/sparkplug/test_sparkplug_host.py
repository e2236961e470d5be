"""The Sparkplug host through a real mosquitto, against the simulated edge node of firmware_sim."""

from __future__ import annotations

import asyncio
import socket

from firmware_sim.sparkplug_node import SparkplugEdgeNode
from tests.modbus.support import run
from tests.sparkplug.support import Collector, listening, source, until
from tonle.io.mqtt import MqttConnection
from tonle.protocols.sparkplug import DataType, Metric, decode_state, encode_payload, state_topic
from tonle.sources.base import Count, Sample, StateChange


def _node(broker, group: str) -> SparkplugEdgeNode:
    return SparkplugEdgeNode(broker.host, broker.port, group, "EN1")


def _fields(sink: Collector) -> list[dict[str, float]]:
    return [s.fields for s in sink.samples("CUT1")]


def test_births_and_data_reach_the_sink_mapped_through_their_aliases(broker, unique_name):
    async def main() -> None:
        sink, src = Collector(), source(broker, unique_name)
        async with listening(src, sink), _node(broker, unique_name) as node:
            node.birth()
            await until(lambda: sink.states("CUT1"), "the births")
            node.update("Cutter1", {"Spindle/Speed": 1200.0, "Status/Mode": 1})
            node.update("Cutter1", {"Production/Total": 10, "Production/Good": 9})
            await until(lambda: sink.counts("CUT1")[-1].total == 10, "the data")
        assert node.aliases[("Cutter1", "Spindle/Speed")][0] == 1  # DDATA carried the alias only
        assert _fields(sink) == [{"spindle_rpm": 0.0, "spindle_temp_c": 31.5}, {"spindle_rpm": 1200.0}]
        assert [(s.state, s.reason) for s in sink.states("CUT1")] == [
            ("idle", "Status/Mode=0"), ("running", "Status/Mode=1")]  # fmt: skip
        counts = sink.counts("CUT1")
        assert [(c.total, c.good) for c in counts] == [(0, 0), (10, 9)]
        assert all(isinstance(r, Sample | StateChange | Count) for r in sink.readings)
        assert src.health.births == 2 and src.health.refused == {} and src.health.rebirth_requests == 0

    run(main)


def test_data_before_its_birth_asks_for_a_rebirth_and_then_flows(broker, unique_name):
    async def main() -> None:
        sink, src = Collector(), source(broker, unique_name)
        async with _node(broker, unique_name) as node:
            node.birth()  # nobody is listening yet: the host never sees these births
            await node.flushed()
            async with listening(src, sink):
                node.update("Cutter1", {"Spindle/Speed": 900.0})
                await until(lambda: node.rebirths == 1, "the rebirth request")
                await until(lambda: sink.samples("CUT1"), "the rebirth's values")
                node.update("Cutter1", {"Spindle/Speed": 950.0})
                await until(lambda: _fields(sink)[-1] == {"spindle_rpm": 950.0}, "data after the rebirth")
        assert src.health.refused == {"before_birth": 1} and src.health.rebirth_requests == 1
        assert _fields(sink)[0]["spindle_rpm"] == 900.0  # the birth carries the current value

    run(main)


def test_a_broken_sequence_triggers_one_rebirth_and_data_resumes(broker, unique_name):
    async def main() -> None:
        sink, src = Collector(), source(broker, unique_name)
        async with listening(src, sink), _node(broker, unique_name) as node:
            node.birth()
            await until(lambda: sink.samples("CUT1"), "the births")
            node.skip_seq()  # a message lost on the way
            node.update("Cutter1", {"Spindle/Speed": 700.0})
            await until(lambda: node.rebirths == 1, "the rebirth request")
            node.update("Cutter1", {"Spindle/Speed": 710.0})
            await until(lambda: _fields(sink)[-1] == {"spindle_rpm": 710.0}, "data after the rebirth")
        h = src.health
        assert h.seq_gaps == 1 and h.rebirth_requests == 1 and h.refused == {"seq_gap": 1}
        assert {"spindle_rpm": 700.0} in _fields(sink)  # the message after the gap is itself kept
        assert h.births == 4  # NBIRTH + DBIRTH, twice

    run(main)


def test_ndeath_and_ddeath_mark_the_machine_offline_and_a_stale_will_is_ignored(broker, unique_name):
    async def main() -> None:
        sink, src = Collector(), source(broker, unique_name)
        async with listening(src, sink), _node(broker, unique_name) as node:
            node.birth()
            await until(lambda: sink.states("CUT1"), "the births")
            node.device_death("Cutter1")
            await until(lambda: sink.states("CUT1")[-1].state == "offline", "the DDEATH")
            node.birth()
            await until(lambda: sink.states("CUT1")[-1].state == "idle", "the machine back")
            node.bdseq, stale = 5, node.bdseq  # an NDEATH of another session
            await node.death()
            node.bdseq = stale
            await node.death()
            await until(lambda: sink.states("CUT1")[-1].state == "offline", "the NDEATH")
        assert [(s.state, s.reason) for s in sink.states("CUT1")] == [
            ("idle", "Status/Mode=0"), ("offline", "DDEATH"), ("idle", "Status/Mode=0"), ("offline", "NDEATH")
        ]  # fmt: skip
        assert src.host.counts["stale_deaths"] == 1

    run(main)


async def _state(broker, host_id: str, name: str, online: bool) -> tuple[bool, int, bool]:
    async with MqttConnection(broker.host, broker.port, f"watch-{name}-{online}") as watch:
        await watch.subscribe(state_topic(host_id))
        while True:
            msg = await asyncio.wait_for(watch.messages.get(), 10)
            seen = decode_state(msg.payload)
            if seen[0] is online:
                return seen[0], seen[1], bool(msg.retain)


def test_state_is_retained_online_and_the_will_says_offline_with_the_same_timestamp(broker, unique_name):
    async def main() -> None:
        sink, src = Collector(), source(broker, unique_name)
        host_id = src.cfg.host_id
        async with listening(src, sink):
            online, born, retained = await _state(broker, host_id, unique_name, True)
            assert online and retained and born > 0
            assert src.mqtt is not None and src.mqtt._client is not None
            sock = src.mqtt._client.socket()
            assert sock is not None
            sock.shutdown(
                socket.SHUT_RDWR
            )  # the gateway loses power: no DISCONNECT, the broker sends the will
            assert await _state(broker, host_id, unique_name, False) == (False, born, True)
            await until(lambda: src.mqtt is not None and src.mqtt.connected.is_set(), "the reconnect")
            assert await _state(broker, host_id, f"{unique_name}2", True) == (True, born, True)
        assert await _state(broker, host_id, f"{unique_name}3", False) == (False, born, True)  # a clean stop

    run(main)


def test_bad_payloads_are_refused_and_counted_and_nothing_good_is_lost(broker, unique_name):
    async def main() -> None:
        sink, src = Collector(), source(broker, unique_name)
        async with listening(src, sink), _node(broker, unique_name) as node:
            node.birth()
            await until(lambda: sink.samples("CUT1"), "the births")
            node.update("Cutter1", {"Spindle/Speed": 1.0})
            node.send_raw("Cutter1", b"\xff\xff not protobuf")
            node.update("Cutter1", {"Spindle/Speed": 2.0})
            mixed = [Metric("", 99, DataType.Float, 5.0), Metric("", 1, DataType.Float, 3.0)]
            node.send_raw("Cutter1", encode_payload(mixed, seq=node.seq, timestamp_ms=1_780_000_000_000))
            node.seq += 1
            text = [Metric("", 1, DataType.String, "fast")]  # a string where a Float was declared
            node.send_raw("Cutter1", encode_payload(text, seq=node.seq, timestamp_ms=1_780_000_000_001))
            node.seq += 1
            node.update("Cutter1", {"Spindle/Speed": 4.0})
            await until(lambda: _fields(sink)[-1] == {"spindle_rpm": 4.0}, "the last good value")
        data = [f["spindle_rpm"] for f in _fields(sink) if "spindle_temp_c" not in f]  # births aside
        assert data == [1.0, 2.0, 3.0, 4.0]  # every good value, in order; the unknown alias's 5.0 is not one
        assert src.health.refused == {"not_protobuf": 1, "unknown_alias": 1, "not_a_number": 1}
        assert src.health.corrupt_frames == 2 and src.health.read_errors == 1
        assert node.rebirths == 1  # the unknown alias asked for births

    run(main)


def test_an_edge_node_that_loses_power_goes_offline_by_its_will(broker, unique_name):
    async def main() -> None:
        sink, src = Collector(), source(broker, unique_name)
        async with listening(src, sink), _node(broker, unique_name) as node:
            node.birth()
            await until(lambda: sink.states("CUT1"), "the births")
            assert node._mqtt is not None and node._mqtt._client is not None
            sock = node._mqtt._client.socket()
            assert sock is not None
            sock.shutdown(socket.SHUT_RDWR)  # no DISCONNECT: the broker publishes the NDEATH will
            await until(lambda: sink.states("CUT1")[-1].state == "offline", "the will")
        assert sink.states("CUT1")[-1].reason == "NDEATH" and src.health.deaths == 1

    run(main)
