"""How many Sparkplug B data messages one gateway core reads: decode alone, and the whole host step.

The host step is what the gateway's Sparkplug source does with each DDATA: decode the
protobuf, check `seq`, resolve the aliases of its birth, map the metrics onto Tonle
readings. Messages carry two metrics (a Float and a Double), as a machine's periodic
data does. No broker: this is the CPU cost per message, which bounds what one core can
take from a plant's SCADA broker. Usage:

    .venv/bin/python bench/sparkplug.py [--messages 50000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from google.protobuf import __version__ as protobuf_version
from google.protobuf.internal import api_implementation

from edge_agent.sources.sparkplug_config import SparkplugSourceConfig
from edge_agent.sources.sparkplug_host import SparkplugHost
from tonle.config.check import check_value
from tonle.protocols.sparkplug import DataType, Metric, decode_payload, encode_payload

T0 = 1_780_000_000_000_000_000
NODE = {
    "machine": "CUT1", "machine_type": "cutting_table", "edge_node": "EN1", "device": "Cutter1",
    "fields": {"Spindle/Speed": "spindle_rpm", "Spindle/Temperature": "spindle_temp_c"},
}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    n = parser.parse_args().messages
    section = {"type": "sparkplug", "name": "bench", "group": "G", "host_id": "h", "nodes": [NODE]}
    cfg, problems = check_value(section, SparkplugSourceConfig)
    assert not problems, problems
    host = SparkplugHost(cfg)
    birth = [
        Metric("Spindle/Speed", 1, DataType.Float, 0.0),
        Metric("Spindle/Temperature", 2, DataType.Double, 30.0),
    ]
    host.handle("spBv1.0/G/NBIRTH/EN1", encode_payload([], seq=0, timestamp_ms=T0 // 10**6), T0)
    host.handle("spBv1.0/G/DBIRTH/EN1/Cutter1", encode_payload(birth, seq=1, timestamp_ms=T0 // 10**6), T0)
    messages = [
        encode_payload(
            [Metric("", 1, DataType.Float, 1000.0 + i % 7), Metric("", 2, DataType.Double, 30.0 + i % 3)],
            seq=(i + 2) % 256,
            timestamp_ms=T0 // 10**6 + i,
        )
        for i in range(n)
    ]
    start = time.perf_counter()
    for m in messages:
        decode_payload(m)
    decode_s = time.perf_counter() - start
    start = time.perf_counter()
    readings = 0
    for m in messages:
        readings += len(host.handle("spBv1.0/G/DDATA/EN1/Cutter1", m, T0).readings)
    host_s = time.perf_counter() - start
    assert readings == n and not host.counts["seq_gaps"], (readings, host.counts)
    print(json.dumps({
        "messages": n, "protobuf": protobuf_version, "implementation": api_implementation.Type(),
        "decode_msgs_per_s": round(n / decode_s), "host_msgs_per_s": round(n / host_s),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
