"""Bad input on a real mosquitto and influxd: each gets a reason and a count, good traffic keeps flowing.

One collector run per test: every class of bad input from `tests/contract/bad_inputs.py`
is published from its own machine, between good batches from S01. Each must come
back on the dead-letter topic with its reason and be counted under its category,
and every good sample must be stored, in S01's series only. Hostile machine names
in the topic are either refused with a reason or stored under exactly that name,
never in another machine's series.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import msgspec
import numpy as np
import pytest

from collector.mapping import map_message
from tests.contract.bad_inputs import BAD_INPUTS, GOOD_T0
from tests.helpers import config_for, count, running_collector, wait_for
from tonle.config import TonleConfig
from tonle.contract import MachineAddress, Telemetry, TopicError, encode
from tonle.io.influxql import InfluxQLClient, quote_str
from tonle.io.mqtt import MqttConnection

DEAD_LETTER_WAIT_S = 20.0


def good_batch(seq: int, n: int, t0: int) -> bytes:
    ts = (t0 + np.arange(n, dtype=np.int64) * 1_000_000).tolist()
    return encode(Telemetry(v=1, seq=seq, ts=ts, fields={"vib_rms": [0.5] * n, "temp_c": [30.0] * n}))


async def dead_letters(dl: MqttConnection, n: int) -> dict[str, dict]:
    """The next `n` dead letters, by the topic of the message they stand for."""
    letters: dict[str, dict] = {}
    while len(letters) < n:
        msg = await asyncio.wait_for(dl.messages.get(), DEAD_LETTER_WAIT_S)
        letter = msgspec.json.decode(msg.payload)
        letters[letter["topic"]] = letter
    return letters


async def series_of(q: InfluxQLClient, pattern: str) -> list[str]:
    rows = await q.query(f"SHOW SERIES WHERE machine =~ /{pattern}/")
    return [key for s in rows for (key,) in s.values]


def test_each_class_of_bad_input_is_dead_lettered_with_its_reason_while_good_traffic_flows(
    broker, influxdb, unique_name
):
    cfg = config_for(broker, influxdb, unique_name)
    good = MachineAddress(unique_name, "sewing", "L1", "S01")
    sender = {
        bad.id: MachineAddress(unique_name, "sewing", "L1", f"B{i:02d}") for i, bad in enumerate(BAD_INPUTS)
    }

    async def body() -> None:
        async with (
            running_collector(cfg) as collector,
            MqttConnection(broker.host, broker.port, f"pub-{unique_name}") as pub,
            MqttConnection(broker.host, broker.port, f"dl-{unique_name}") as dl,
            InfluxQLClient(influxdb.url, unique_name) as q,
        ):
            await dl.subscribe(f"{cfg.collector.deadletter_topic}/#")
            await asyncio.gather(pub.wait_connected(), dl.wait_subscribed())
            sent = 0
            for i, bad in enumerate(BAD_INPUTS):
                await pub.publish(good.topic("telemetry"), good_batch(i * 10, 10, GOOD_T0 + i * 10**9))
                sent += 10
                await pub.publish(sender[bad.id].topic(bad.kind), bad.payload)
            await pub.publish(good.topic("telemetry"), good_batch(sent, 10, GOOD_T0 + 10**12))
            sent += 10

            letters = await dead_letters(dl, len(BAD_INPUTS))
            wrong = []
            for bad in BAD_INPUTS:
                reason = letters[sender[bad.id].topic(bad.kind)]["reason"]
                if reason.split(":")[0] != bad.category or not all(w in reason for w in bad.words):
                    wrong.append(f"{bad.id}: {reason}")
            assert not wrong, "\n".join(wrong)
            assert collector.stats.dead_letters == len(BAD_INPUTS)
            assert collector.stats.dead_letter_reasons == Counter(bad.category for bad in BAD_INPUTS)

            stored = await wait_for(
                lambda: count(q, f"SELECT count(vib_rms) FROM telemetry WHERE machine = {quote_str('S01')}"),
                lambda n: n >= sent,
                "every good sample stored",
            )
            # Exactly the good samples, and S01 is still found by its tag: a field called
            # `machine` (one of the bad inputs) would make this WHERE clause match nothing.
            assert stored == sent
            assert await count(q, "SELECT count(vib_rms) FROM telemetry") == sent
            assert await series_of(q, "^B[0-9]+$") == []
            assert collector.stats.rejected_points == 0

    asyncio.run(body())


# Names a device may have, and what the collector must do with them.
STORED_NAMES = ("S1,machine=S2", "S 1", "a=b", "máy-may-3", "縫製機", "S1' OR '1'='1", "100% S2", 'say "S2"')
# These pass the broker but look like another machine's name, so the collector refuses them.
REFUSED_NAMES = {
    "S2\u200b": "invisible character (U+200B)",  # zero width space: shows as "S2"
    "\u202eS2": "invisible character (U+202E)",  # right-to-left override
    "S2 ": "starts or ends with a space",
    "S2\u00a0": "starts or ends with a space",  # no-break space
}
# mosquitto disconnects a client that publishes a topic with a control character
# ("malformed packet"), so these never reach the collector; if another broker let
# them through, the collector refuses them too.
BROKER_REFUSED_NAMES = ("S2\nmachine=S1", "S2\r", "S2\x7f", "S2\t")


@pytest.mark.parametrize("name", BROKER_REFUSED_NAMES)
def test_a_name_with_a_control_character_is_refused_by_the_collector_too(name: str):
    with pytest.raises(TopicError, match="control or invisible character"):
        map_message(f"tonle/p/sewing/L1/{name}/telemetry", good_batch(0, 1, GOOD_T0))
    with pytest.raises(TopicError):
        MachineAddress("p", "sewing", "L1", name)  # the edge agent cannot even build the topic


def test_a_hostile_machine_name_never_adds_points_to_another_machines_series(broker, influxdb, unique_name):
    cfg: TonleConfig = config_for(broker, influxdb, unique_name)
    # Every machine sends a different number of samples, so a point in the wrong series shows up as a count.
    expected = {"S1": 3, "S2": 4} | {name: 5 + i for i, name in enumerate(STORED_NAMES)}
    refused = list(REFUSED_NAMES)

    async def body() -> None:
        async with (
            running_collector(cfg) as collector,
            MqttConnection(broker.host, broker.port, f"pub-{unique_name}") as pub,
            MqttConnection(broker.host, broker.port, f"dl-{unique_name}") as dl,
            InfluxQLClient(influxdb.url, unique_name) as q,
        ):
            await dl.subscribe(f"{cfg.collector.deadletter_topic}/#")
            await asyncio.gather(pub.wait_connected(), dl.wait_subscribed())
            topics = {}
            for i, name in enumerate([*expected, *refused]):
                topic = f"tonle/{unique_name}/sewing/L1/{name}/telemetry"
                topics[name] = topic
                await pub.publish(topic, good_batch(0, expected.get(name, 7), GOOD_T0 + i * 10**9))

            letters = await dead_letters(dl, len(refused))
            for name, words in REFUSED_NAMES.items():
                reason = letters[topics[name]]["reason"]
                assert reason.startswith("bad machine name: ") and words in reason, reason
            assert collector.stats.dead_letter_reasons == {"bad machine name": len(refused)}

            total = sum(expected.values())
            await wait_for(
                lambda: count(q, "SELECT count(vib_rms) FROM telemetry"), lambda n: n >= total, "all stored"
            )
            rows = await q.query("SELECT count(vib_rms) FROM telemetry GROUP BY machine")
            assert {s.tags["machine"]: s.values[0][1] for s in rows} == expected
            for name, n in expected.items():
                where = f"WHERE machine = {quote_str(name)}"
                assert await count(q, f"SELECT count(vib_rms) FROM telemetry {where}") == n, name
            # Each series has exactly the tags of its own address, nothing a name smuggled in.
            keys = {
                s.tags["machine"]: s.tags
                for s in await q.query("SELECT count(vib_rms) FROM telemetry GROUP BY *")
            }
            for name, tags in keys.items():
                assert tags == {"site": unique_name, "area": "sewing", "line": "L1", "machine": name}, (
                    json.dumps(tags)
                )

    asyncio.run(body())
