"""Container healthcheck for the Tonle services: `python /etc/tonle/healthcheck.py ROLE`.

Exits 0 when healthy, else 1 with one line saying what is wrong (docker shows it in
`docker inspect`). ROLE is `collector`, `analytics` or `sim`:

- every role: the MQTT broker accepts this container's identity: a TLS handshake with the
  configured CA, certificate and key (tonle.toml and the TONLE_MQTT_*_FILE overrides), so a
  broker with another certificate, or one that refuses ours (revoked, another CA), is
  unhealthy. No MQTT session is opened: the broker forces the client id to the
  certificate's name, so a CONNECT would take over the service's own session (and could
  wipe the collector's queue);
- collector and analytics: InfluxDB answers /ping;
- collector: it wrote its own `pipeline` health point recently (it writes one every
  `collector.health_interval_s`), so a collector that is stuck, or cannot write,
  turns unhealthy instead of looking fine.

Addresses and credentials come from the same tonle.toml and environment as the
service itself (TONLE_CONFIG, default /etc/tonle/tonle.toml).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import ssl
import sys

import msgspec

from tonle.config import ConfigError, TonleConfig, load_config
from tonle.errors import TonleError
from tonle.io.connect import influxql_client
from tonle.io.influxql import InfluxQLError, Series, quote_str

TIMEOUT_S = 3.0
MIN_FRESH_S = 30.0


class Unhealthy(Exception):
    pass


def _tls_context(ca: str, cert: str, key: str) -> ssl.SSLContext:
    """The service's own trust and identity. TLS 1.2: a broker that refuses the certificate
    says so inside the handshake (TLS 1.3 would say it only after, on the first read)."""
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def check_broker(cfg: TonleConfig) -> None:
    m = cfg.mqtt
    where = f"MQTT broker {m.host}:{m.port}"
    files = m.tls_files()  # ConfigError naming a missing file: unhealthy, with the fix
    try:
        ctx = None if files is None else _tls_context(*files)
        with socket.create_connection((m.host, m.port), timeout=TIMEOUT_S) as sock:
            if ctx is not None:
                ctx.wrap_socket(sock, server_hostname=m.host).close()
    except ssl.SSLCertVerificationError as exc:
        raise Unhealthy(
            f"{where} is not the plant's broker ({exc.verify_message}): check mqtt.ca_file and that the "
            "broker's certificate names this host (TONLE_BROKER_HOST)"
        ) from exc
    except ssl.SSLError as exc:
        raise Unhealthy(
            f"{where} refused this container's certificate ({exc.reason}): it may be revoked or from another "
            "CA; run the provision service again and restart the broker"
        ) from exc
    except OSError as exc:
        raise Unhealthy(f"{where} unreachable: {exc}") from exc


def _influx(cfg: TonleConfig) -> TonleConfig:
    """The config with the healthcheck's short timeout; the link itself comes from tonle.io.connect."""
    return msgspec.structs.replace(cfg, influxdb=msgspec.structs.replace(cfg.influxdb, timeout_s=TIMEOUT_S))


async def _ping(cfg: TonleConfig) -> None:
    async with influxql_client(cfg) as q:
        await q.ping()


async def _query(cfg: TonleConfig, q_text: str) -> list[Series]:
    async with influxql_client(cfg) as q:
        return await q.query(q_text)


def check_influxdb(cfg: TonleConfig) -> None:
    try:
        asyncio.run(_ping(_influx(cfg)))
    except InfluxQLError as exc:
        if exc.status is None:
            raise Unhealthy(f"InfluxDB {cfg.influxdb.url} unreachable: {exc}") from exc
        raise Unhealthy(f"InfluxDB {cfg.influxdb.url}/ping answered {exc.status}") from exc


def check_collector_writes(cfg: TonleConfig) -> None:
    instance = cfg.collector.instance
    if not instance:
        return  # the default instance name changes with every start; nothing stable to look for
    fresh_s = max(MIN_FRESH_S, 3 * cfg.collector.health_interval_s)
    q = (
        'SELECT last("messages") FROM "pipeline" WHERE "component" = \'collector\' '
        f'AND "instance" = {quote_str(instance)} AND time > now() - {int(fresh_s)}s'
    )
    try:
        series = asyncio.run(_query(_influx(cfg), q))
    except InfluxQLError as exc:
        if exc.status is None:
            raise Unhealthy(f"InfluxDB {cfg.influxdb.url} unreachable: {exc}") from exc
        raise Unhealthy(f"InfluxDB could not answer the health query ({exc.status}): {exc}") from exc
    if not series:
        raise Unhealthy(f"collector {instance!r} wrote no pipeline health in the last {fresh_s:.0f}s")


CHECKS = {
    "collector": (check_broker, check_influxdb, check_collector_writes),
    "analytics": (check_broker, check_influxdb),
    "sim": (check_broker,),
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("role", choices=sorted(CHECKS))
    p.add_argument("--config", default=os.environ.get("TONLE_CONFIG", "/etc/tonle/tonle.toml"))
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.config)
        for check in CHECKS[args.role]:
            check(cfg)
    except (Unhealthy, ConfigError, TonleError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1
    print("healthy")
    return 0


if __name__ == "__main__":
    sys.exit(main())
