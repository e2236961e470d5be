"""The v2 writer against a real `/api/v2/write` server: Debian's VictoriaMetrics 1.79.

Points are read back through VictoriaMetrics' export API (series `{measurement}_{field}`).
VictoriaMetrics never answers 400 or 413 to line protocol (it skips a bad line and
says 204), so bisecting and splitting are proven against influxd in test_writer_v1.py:
both writers share that code (`tonle.io.writers._batch.store_lines`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.collector.test_writer_v1 import in_seconds, scripted_server
from tests.collector.victoria import LocalVictoriaMetrics
from tests.helpers import wait_for
from tonle.config import ConfigError, InfluxConfig, parse_config
from tonle.contract.lineproto import encode_block
from tonle.io.writers import InfluxV2Writer, WriteError, make_writer


def recent_ms() -> int:
    """A millisecond-aligned ns timestamp one minute ago: inside VictoriaMetrics' retention."""
    return (time.time_ns() // 1_000_000 - 60_000) * 1_000_000


@pytest.fixture(scope="module")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalVictoriaMetrics]:
    vm = LocalVictoriaMetrics(folder=Path(tmp_path_factory.mktemp("victoria"))).start()
    yield vm
    vm.stop()


@pytest.fixture
def own_victoria(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalVictoriaMetrics]:
    """A VictoriaMetrics for one test that stops, throttles or locks it (args via indirect param)."""
    vm = LocalVictoriaMetrics(folder=tmp_path / "victoria", **getattr(request, "param", {})).start()
    yield vm
    vm.stop()


def test_every_point_reads_back_with_its_value_and_timestamp(victoria, unique_name):
    t0 = recent_ms()
    n = 300
    ts = t0 + np.arange(n, dtype=np.int64) * 1_000_000
    machines = ["S01", "S 02,line=L9"]  # the second proves tag escaping reaches the server intact
    batch = b"".join(
        encode_block(
            "telemetry",
            {"site": unique_name, "machine": m},
            ts,
            float_fields={"vib_rms": np.arange(n) * 0.25 - 7.5 + k},
            int_fields={"count": np.arange(n) + 1000 * k},
        )
        for k, m in enumerate(machines)
    )

    async def body() -> None:
        async with InfluxV2Writer(victoria.url, "tonle") as w:
            assert await w.write(batch) == []
            series = await victoria.export(f'{{site="{unique_name}"}}')
        got = {(s.name, s.labels["machine"]): s for s in series}
        assert sorted(got) == sorted((f"telemetry_{f}", m) for f in ("count", "vib_rms") for m in machines)
        for k, m in enumerate(machines):
            for name, expected in (
                ("telemetry_vib_rms", (np.arange(n) * 0.25 - 7.5 + k).tolist()),
                ("telemetry_count", (np.arange(n) + 1000 * k).tolist()),
            ):
                s = got[(name, m)]
                assert s.labels == {"site": unique_name, "machine": m}
                assert s.values == expected
                assert [t * 1_000_000 for t in s.timestamps_ms] == ts.tolist()

    asyncio.run(body())


def test_victoriametrics_keeps_milliseconds_and_twelve_significant_digits(victoria, unique_name):
    # Not the writer's doing: what a technician gets when choosing VictoriaMetrics.
    t = recent_ms() + 123_456
    line = b"pdm,site=%s third=%r,big=9007199254740993i %d\n" % (unique_name.encode(), 1 / 3, t)

    async def body() -> None:
        async with InfluxV2Writer(victoria.url, "tonle") as w:
            assert await w.write(line) == []
            series = {s.name: s for s in await victoria.export(f'{{site="{unique_name}"}}')}
        assert series["pdm_third"].values == [0.333333333333]
        assert series["pdm_big"].values == [9007199254740992]
        assert series["pdm_third"].timestamps_ms == [t // 1_000_000]

    asyncio.run(body())


def test_victoriametrics_skips_a_malformed_line_with_204_so_nothing_is_rejected_and_good_lines_are_stored(
    victoria, unique_name
):
    t0 = recent_ms()
    site = unique_name.encode()
    good = [b"state,site=%s,machine=S01 code=%di %d" % (site, i, t0 + i * 1_000_000) for i in range(4)]
    bad = b"state,site=%s,machine=S01 code= %d" % (site, t0)
    batch = b"\n".join([good[0], good[1], bad, good[2], good[3]]) + b"\n"

    async def body() -> None:
        async with InfluxV2Writer(victoria.url, "tonle") as w:
            # VictoriaMetrics logs "cannot unmarshal InfluxDB line ...; skipping it" and
            # answers 204: the writer cannot know, so it returns no rejected line.
            assert await w.write(batch) == []
        (series,) = await victoria.export(f'{{site="{unique_name}"}}')
        assert series.name == "state_code"
        assert series.values == [0, 1, 2, 3]
        skipped = [reason for line, reason in victoria.skipped_lines() if line == bad.decode()]
        assert skipped == ['cannot parse field value for "code": field value cannot be empty']

    asyncio.run(body())


@pytest.mark.parametrize("own_victoria", [{"dedup": False}], indirect=True)
def test_a_replayed_batch_overwrites_itself_only_when_victoriametrics_deduplicates(
    victoria, own_victoria, unique_name
):
    # The collector's at-least-once delivery relies on storage being idempotent.
    # VictoriaMetrics is only with -dedup.minScrapeInterval=1ms (the `victoria` fixture).
    t0 = recent_ms()
    site = unique_name.encode()
    batch = b"".join(b"count,site=%s pieces=%di %d\n" % (site, i, t0 + i * 10**6) for i in range(3))

    async def body() -> None:
        for vm in (victoria, own_victoria):
            async with InfluxV2Writer(vm.url, "tonle") as w:
                assert await w.write(batch) == []
                assert await w.write(batch) == []
        (deduplicated,) = await victoria.export(f'{{site="{unique_name}"}}')
        (doubled,) = await own_victoria.export(f'{{site="{unique_name}"}}')
        assert deduplicated.values == [0, 1, 2]
        assert doubled.values == [0, 0, 1, 1, 2, 2]

    asyncio.run(body())


def test_a_server_that_is_down_raises_write_error_naming_the_url_and_writes_resume_after_restart(
    own_victoria, unique_name
):
    vm = own_victoria
    t0 = recent_ms()

    def point(i: int) -> bytes:
        return b"energy,site=%s kwh=%d %d\n" % (unique_name.encode(), i, t0 + i * 1_000_000)

    async def body() -> None:
        async with InfluxV2Writer(vm.url, "tonle") as w:
            await w.ensure_database()
            assert await w.write(point(1)) == []
            vm.stop()
            with pytest.raises(WriteError) as down:
                await w.write(point(2))
            assert vm.url in str(down.value)
            assert "check that the database is running and influxdb.url" in str(down.value)
            assert down.value.retry_after_s is None
            with pytest.raises(WriteError, match="cannot reach"):
                await w.ensure_database()
            vm.start()
            await w.ensure_database()
            assert await w.write(point(2)) == []
        (series,) = await vm.export(f'{{site="{unique_name}"}}')
        assert series.values == [1, 2]

    asyncio.run(body())


@contextlib.contextmanager
def stalled_insert(port: int) -> Iterator[socket.socket]:
    """Hold VictoriaMetrics' only insert slot: a write whose body never finishes arriving."""
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"POST /api/v2/write?bucket=b HTTP/1.1\r\nHost: vm\r\nContent-Length: 1000\r\n\r\n")
        s.sendall(b"m v=1 1\n")
        yield s


@pytest.mark.parametrize(
    "own_victoria", [{"flags": ("-maxConcurrentInserts=1", "-insert.maxQueueDuration=50ms")}], indirect=True
)
def test_an_overloaded_server_raises_write_error_and_the_kept_batch_is_stored_after(
    own_victoria, unique_name
):
    # VictoriaMetrics answers 503 "cannot handle more than 1 concurrent inserts" without
    # Retry-After, so the writer hands None and the caller's own backoff applies.
    vm = own_victoria
    batch = b"oee,site=%s oee=0.75 %d\n" % (unique_name.encode(), recent_ms())

    async def attempt(w: InfluxV2Writer) -> WriteError | None:
        try:
            await w.write(batch)
        except WriteError as exc:
            return exc
        return None

    async def body() -> None:
        async with InfluxV2Writer(vm.url, "tonle") as w:
            with stalled_insert(vm.port):
                error = await wait_for(lambda: attempt(w), lambda e: e is not None, "the server to refuse")
            assert error is not None
            assert "overloaded or unavailable (503" in str(error)
            assert "concurrent inserts" in str(error)
            assert error.retry_after_s is None
            assert await w.write(batch) == []
        (series,) = await vm.export(f'{{site="{unique_name}"}}')
        assert series.values == [0.75]

    asyncio.run(body())


@pytest.mark.parametrize("own_victoria", [{"username": "tonle", "password": "s3cret"}], indirect=True)
def test_a_refused_token_raises_write_error_naming_token_env_and_basic_auth_is_accepted(
    own_victoria, unique_name
):
    vm = own_victoria
    batch = b"production,site=%s pieces=12i %d\n" % (unique_name.encode(), recent_ms())

    async def body() -> None:
        async with InfluxV2Writer(vm.url, "tonle", token="not-the-token") as w:
            with pytest.raises(WriteError) as refused:
                await w.write(batch)
            assert "refused our credentials (401" in str(refused.value)
            assert "influxdb.token_env" in str(refused.value)
            with pytest.raises(WriteError, match="refused our credentials"):
                await w.ensure_database()
        async with InfluxV2Writer(vm.url, "tonle", username="tonle", password="s3cret") as w:
            await w.ensure_database()
            assert await w.write(batch) == []
        (series,) = await vm.export(f'{{site="{unique_name}"}}')
        assert series.values == [12]

    asyncio.run(body())


def test_ensure_database_on_a_server_without_bucket_api_only_checks_that_it_answers(victoria):
    async def body() -> None:
        async with InfluxV2Writer(victoria.url, "no-such-bucket", org="plant") as w:
            await w.ensure_database()  # VictoriaMetrics answers 400 "unsupported path" to /api/v2/buckets

    asyncio.run(body())


def test_retry_after_from_a_v2_server_is_handed_to_the_caller_and_the_batch_is_kept():
    line = b"telemetry,machine=S01 v=1 1\n"

    async def body() -> None:
        answers = [(503, {"Retry-After": "3"}), (429, {"Retry-After": in_seconds(60)}), (204, {})]
        async with scripted_server(answers) as server, InfluxV2Writer(server.url, "b", org="o") as w:
            with pytest.raises(WriteError) as first:
                await w.write(line)
            assert first.value.retry_after_s == 3.0
            with pytest.raises(WriteError) as second:
                await w.write(line)
            assert second.value.retry_after_s is not None and 40 < second.value.retry_after_s <= 60
            assert await w.write(line) == []
            assert server.bodies == [line] * 3

    asyncio.run(body())


def test_make_writer_builds_the_v2_writer_from_config_with_the_token_from_the_environment(
    victoria, unique_name, monkeypatch
):
    monkeypatch.setenv("TONLE_TEST_V2_TOKEN", "t0ken")
    cfg = parse_config(
        {"influxdb": {"url": victoria.url, "api": "v2", "org": "plant", "token_env": "TONLE_TEST_V2_TOKEN"}},
        env={},
    ).influxdb
    gz = InfluxConfig(url=victoria.url, api="v2", bucket="b", gzip=True)
    batch = b"alerts,site=%s level=2i %d\n" % (unique_name.encode(), recent_ms())

    async def body() -> None:
        for config in (cfg, gz):
            writer = make_writer(config)
            assert isinstance(writer, InfluxV2Writer)
            async with writer as w:
                assert await w.write(batch) == []
        (series,) = await victoria.export(f'{{site="{unique_name}"}}')
        assert series.values == [2]

    assert cfg.v2_bucket() == "tonle"
    asyncio.run(body())
    monkeypatch.delenv("TONLE_TEST_V2_TOKEN")
    with pytest.raises(ConfigError, match=r"influxdb\.token_env"):
        make_writer(cfg)


def test_a_v2_config_without_bucket_or_database_is_refused_naming_the_key_to_set():
    with pytest.raises(ConfigError, match=r"set 'influxdb\.bucket'"):
        parse_config({"influxdb": {"api": "v2", "database": ""}}, env={})
    with pytest.raises(ConfigError, match=r"'influxdb\.token_env' is only used when 'influxdb\.api' is v2"):
        parse_config({"influxdb": {"token_env": "TOKEN"}}, env={})
