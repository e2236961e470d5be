"""Tonle's machines published as a Sparkplug edge node, read back by a Sparkplug host through mosquitto."""

from __future__ import annotations

import asyncio

from edge_agent.sources.sparkplug import SparkplugSource
from tests.modbus.support import run
from tests.sparkplug.support import Collector, listening, source, until
from tonle.app.sparkplug_bridge import SparkplugBridge
from tonle.contract import Count, MachineAddress, State, Telemetry, encode
from tonle.io.mqtt import MqttConnection
from tonle.protocols.sparkplug import DataType, Metric, decode_payload
from tonle.protocols.sparkplug_edge import EdgeNodeBook

T0 = 1_780_000_000_000_000_000
SCADA_VIEW = {
    "machine": "S07", "machine_type": "lockstitch", "edge_node": "Tonle", "device": "S07",
    "fields": {"Telemetry/vib_rms": "vib_rms", "Telemetry/current_a": "current_a"},
    "state": "State", "count_total": "Production/Total", "count_good": "Production/Good",
}  # fmt: skip


def _scada(broker, group: str) -> SparkplugSource:
    return source(broker, group, nodes=[SCADA_VIEW])


def test_a_new_metric_rebirths_its_device_and_data_goes_by_alias():
    book = EdgeNodeBook("G", "Tonle")
    assert book.update("S07", {"State": (DataType.String, "running")}, 1, born=False) == []
    (nbirth, dbirth) = book.births(2)
    assert nbirth[0] == "spBv1.0/G/NBIRTH/Tonle" and dbirth[0] == "spBv1.0/G/DBIRTH/Tonle/S07"
    assert decode_payload(dbirth[1]).metrics == (Metric("State", 1, DataType.String, "running"),)
    ((topic, data),) = book.update("S07", {"State": (DataType.String, "idle")}, 3, born=True)
    assert topic == "spBv1.0/G/DDATA/Tonle/S07"
    assert (
        decode_payload(data).metrics == (Metric("", 1, DataType.String, "idle"),)
        and decode_payload(data).seq == 2
    )
    ((topic, data),) = book.update("S07", {"Telemetry/x": (DataType.Double, 1.0)}, 4, born=True)
    assert topic.startswith("spBv1.0/G/DBIRTH/") and [m.name for m in decode_payload(data).metrics] == [
        "State", "Telemetry/x"]  # fmt: skip


def test_tonle_machines_reach_a_sparkplug_host_and_a_rebirth_request_is_answered(broker, unique_name):
    addr = MachineAddress(unique_name, "sewing", "L1", "S07")

    async def main() -> None:
        sink, scada = Collector(), _scada(broker, unique_name)
        async with (
            MqttConnection(broker.host, broker.port, f"{unique_name}-bridge-in") as tonle_in,
            MqttConnection(broker.host, broker.port, f"{unique_name}-gateway") as gateway,
        ):
            bridge = SparkplugBridge(
                tonle_in, broker.host, broker.port, group=unique_name, node="Tonle", site=unique_name
            )
            task = asyncio.create_task(bridge.run())
            await until(
                lambda: bridge.scada.subscribed.is_set() and tonle_in.subscribed.is_set(), "the bridge"
            )
            state = State(v=1, seq=0, ts=T0, state="running")
            await gateway.publish(addr.topic("state"), encode(state))
            await until(lambda: "S07" in bridge.book.devices, "the first state")  # born, but nobody listens
            await bridge.scada.publish(f"test/{unique_name}/flush", b"", qos=1)  # its DBIRTH is routed by now
            async with listening(scada, sink):
                batch = Telemetry(
                    v=1, seq=0, ts=[T0 + 1, T0 + 2], fields={"vib_rms": [0.5, 0.7], "current_a": [2.0, 2.1]}
                )
                await gateway.publish(addr.topic("telemetry"), encode(batch))
                await until(lambda: bridge.rebirths == 1, "the host's rebirth request")
                await until(lambda: sink.samples("S07"), "the rebirth's values")
                await gateway.publish(
                    addr.topic("count"), encode(Count(v=1, seq=0, ts=T0 + 3, total=12, good=11))
                )
                await until(lambda: sink.counts("S07"), "the count")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert sink.samples("S07")[-1].fields == {"vib_rms": 0.7, "current_a": 2.1}  # the newest of the batch
        assert [s.state for s in sink.states("S07")] == ["running"]
        assert [(c.total, c.good) for c in sink.counts("S07")] == [(12, 11)]
        assert scada.health.refused == {"before_birth": 1} and bridge.refused == 0

    run(main)
