"""Values are stored in the decimal text the device sent, and InfluxDB reads the same number."""

from __future__ import annotations

import asyncio

from collector.mapping import map_message
from tonle.contract import MachineAddress
from tonle.io.influxql import InfluxQLClient
from tonle.io.writers import InfluxV1Writer

T0 = 1_780_000_000_000_000_000


def test_json_number_spellings_and_whitespace_become_the_same_numbers_in_influxdb(influxdb, unique_name):
    addr = MachineAddress(unique_name, "sewing", "L1", "S01")
    spellings = [
        "1e3",
        "-0.5",
        "7",
        "-0",
        "1.25E-2",
        "0.1000000000000000055511151231257827",
        "123456789012345",
    ]
    expected = [1000.0, -0.5, 7.0, 0.0, 0.0125, 0.1, 123456789012345.0]
    ts = [T0 + i for i in range(len(spellings))]
    payload = (
        '{"v": 1, "seq": 0,\n "ts": ['
        + ", ".join(map(str, ts))
        + '],\n "fields": {"a": [ '
        + " ,\n\t".join(spellings)
        + " ]}}"
    ).encode()
    mapped = map_message(addr.topic("telemetry"), payload)
    assert mapped.points == len(spellings)
    lines = mapped.lines.decode().splitlines()
    # Whitespace inside the JSON never reaches a line; the text is kept as sent.
    assert [line.split(" ")[1].split(",")[0] for line in lines] == [f"a={s}" for s in spellings]

    async def body() -> list[float]:
        async with (
            InfluxV1Writer(influxdb.url, unique_name) as w,
            InfluxQLClient(influxdb.url, unique_name) as q,
        ):
            await w.ensure_database()
            assert await w.write(mapped.lines) == []
            (series,) = await q.query("SELECT a, seq FROM telemetry ORDER BY time")
            assert series.column("seq") == list(range(len(spellings)))
            return series.column("a")

    assert asyncio.run(body()) == expected


def test_a_single_sample_keeps_its_text_too():
    addr = MachineAddress("p1", "sewing", "L1", "S01")
    mapped = map_message(
        addr.topic("telemetry"), b'{"v":1,"seq":9,"ts":1780000000000000000,"fields":{"t": 2.50}}'
    )
    assert mapped.lines.endswith(b" t=2.50,seq=9i 1780000000000000000\n")
