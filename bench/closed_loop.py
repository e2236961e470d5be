"""How fast the whole loop runs on virtual time, every part real.

Runs N stations for M virtual minutes through simulator -> agent -> mosquitto ->
collector -> influxd -> analytics -> commands, as fast as the machine allows, and
prints samples/s end to end, MQTT messages/s and the peak RSS of this process
(which holds the agent, collector and analytics). Usage:

    .venv/bin/python bench/closed_loop.py --stations 12 --minutes 60
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tonle.app.line_run import line_run
from tonle.app.services import LocalBroker, LocalInfluxDB


async def run(broker: LocalBroker, db: LocalInfluxDB, stations: int, minutes: float) -> dict:
    async with line_run(broker, db, "bench", stations=stations, start_wear=0.3, wear_acceleration=20.0) as r:
        t0 = time.perf_counter()
        await r.advance(minutes * 60)
        wall = time.perf_counter() - t0
        s = r.agent.stats
        return {
            "stations": stations,
            "virtual_minutes": minutes,
            "wall_s": round(wall, 2),
            "speedup_vs_real_time": round(minutes * 60 / wall, 1),
            "samples": s.samples_published,
            "samples_per_s": round(s.samples_published / wall),
            "mqtt_messages_per_s": round(s.messages / wall),
            "collector_points": r.collector.stats.points,
            "analytics_rounds": len(r.results),
            "commands": r.analytics.commands_sent,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stations", type=int, default=12)
    p.add_argument("--minutes", type=float, default=60.0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        broker = LocalBroker(Path(tmp) / "b", secure=False).start()
        db = LocalInfluxDB(Path(tmp) / "i").start()
        try:
            print(json.dumps(asyncio.run(run(broker, db, args.stations, args.minutes))))
        finally:
            broker.stop()
            db.stop()


if __name__ == "__main__":
    main()
