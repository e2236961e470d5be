"""Line protocol escaping, proven against a real influxd: every name lands in its own series."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tonle.contract import MachineAddress, encode_block
from tonle.io.influxql import InfluxQLClient, quote_str

names = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"), blacklist_characters="/+#\\"
    ),
    min_size=1,
    max_size=20,
).filter(lambda s: s == s.strip())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    machine=names,
    value=st.floats(allow_nan=False, allow_infinity=False, width=64, min_value=-1e15, max_value=1e15),
    reason=st.text(max_size=30),
)
def test_any_valid_name_and_value_round_trip_through_influxdb(influxdb, unique_name, machine, value, reason):
    addr = MachineAddress("site,a=1", "area x", "L=1", machine)
    ts = np.array([1_780_000_000_000_000_000], dtype=np.int64)
    body = encode_block(
        "telemetry", addr.tags(), ts, {"v a,l=ue": np.array([value])}, str_fields={"r": [reason]}
    )
    db = unique_name
    httpx.post(f"{influxdb.url}/query", data={"q": f'CREATE DATABASE "{db}"'}).raise_for_status()
    r = httpx.post(f"{influxdb.url}/write", params={"db": db, "precision": "ns"}, content=body)
    assert r.status_code == 204, r.text

    async def read() -> list:
        async with InfluxQLClient(influxdb.url, db) as q:
            return await q.query(
                f'SELECT "v a,l=ue", r FROM telemetry WHERE machine = {quote_str(machine)} '
                f"AND time = {int(ts[0])} GROUP BY *"
            )

    rows = asyncio.run(read())
    assert len(rows) == 1
    assert rows[0].tags == {"site": "site,a=1", "area": "area x", "line": "L=1", "machine": machine}
    got_value, got_reason = rows[0].values[0][1], rows[0].values[0][2]
    assert got_value == value
    expected_reason = "".join(" " if ord(c) < 32 else c for c in reason)
    assert got_reason == expected_reason
    httpx.post(f"{influxdb.url}/query", data={"q": f'DROP DATABASE "{db}"'})
