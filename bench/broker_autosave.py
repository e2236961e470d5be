"""What mosquitto's `autosave_on_changes` costs: QoS 1 messages/s published, on vs off.

The setup docs/delivery.md recommends for third-party devices (mosquitto writes its store
after every `autosave_interval` changes instead of every `autosave_interval` seconds). One
publisher sends `--messages` small QoS 1 messages (all in flight at once) to a topic with one
persistent subscriber, which is either connected and reading (steady state) or away (its
queue grows: each save writes the whole store, so the cost grows with the queue). Timed from
the first publish to the last PUBACK; median of `--rounds`.

    .venv/bin/python bench/broker_autosave.py --messages 500 2000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tonle.app.services import LocalBroker  # noqa: E402
from tonle.io.mqtt import MqttConnection  # noqa: E402

SETTINGS = {  # name -> (autosave_interval, autosave_on_changes)
    "off (autosave_interval 10 s)": (10, False),
    "on_changes, interval 1": (1, True),
    "on_changes, interval 100": (100, True),
}
PAYLOAD = b'{"v":1,"seq":0,"ts":1780000000000000000,"state":"running"}'


async def one_run(broker: LocalBroker, n: int, subscriber_online: bool, tag: str) -> float:
    """Messages/s for `n` QoS 1 publishes to a topic with one persistent subscriber."""
    topic = f"bench/{tag}"
    sub = MqttConnection(broker.host, broker.port, f"sub-{tag}", clean_start=False, session_expiry_s=3600)
    async with sub:
        await sub.subscribe(topic, qos=1)
        await sub.wait_subscribed()
        if subscriber_online:
            drain = asyncio.create_task(_drain(sub, n))
        else:
            await sub.__aexit__(None, None, None)  # away: its session queues
        async with MqttConnection(broker.host, broker.port, f"pub-{tag}") as pub:
            await pub.wait_connected()
            t0 = time.perf_counter()
            await asyncio.gather(*(pub.publish_nowait(topic, PAYLOAD) for _ in range(n)))
            elapsed = time.perf_counter() - t0
        if subscriber_online:
            await drain
    return n / elapsed


async def _drain(sub: MqttConnection, n: int) -> None:
    for _ in range(n):
        await sub.messages.get()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, nargs="+", default=[500, 2000])
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (interval, on_changes) in SETTINGS.items():
            for online in (True, False):
                for n in args.messages:
                    rates = []
                    for r in range(args.rounds):  # a fresh broker each time: an empty store
                        folder = Path(tmp) / f"b{len(out)}-{r}-{int(online)}"
                        broker = LocalBroker(
                            folder, autosave_interval=interval, autosave_on_changes=on_changes, secure=False
                        )
                        broker.start()
                        try:
                            rates.append(asyncio.run(one_run(broker, n, online, f"{int(online)}-{n}-{r}")))
                        finally:
                            broker.stop()
                    row = {
                        "broker": name,
                        "subscriber": "online" if online else "away (queued)",
                        "messages": n,
                        "msgs_per_s": round(statistics.median(rates)),
                    }
                    out.append(row)
                    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
