"""deploy/healthcheck.py, the containers' healthcheck, run as docker runs it: a process
that exits 0 (healthy) or 1 (with the reason), against the session's real broker and influxd.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.deploy.deploy_broker import DeployBroker, provision
from tonle.app.services import LocalBroker, LocalInfluxDB, free_port
from tonle.security.plant import PlantSecurity

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "healthcheck.py"


LAB = "tls = false\n"
NO_DB = "http://127.0.0.1:1"  # the sim role checks the broker only


def _config(tmp_path: Path, mqtt_port: int, influx_url: str, database: str, mqtt: str = LAB) -> Path:
    path = tmp_path / "tonle.toml"
    path.write_text(
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\n{mqtt}\n'
        f'[influxdb]\nurl = "{influx_url}"\ndatabase = "{database}"\n\n'
        '[collector]\ninstance = "collector-hc"\nhealth_interval_s = 5.0\n'
    )
    return path


def _run(role: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TONLE_")}
    env["PYTHONPATH"] = str(ROOT)  # in the image, tonle is installed
    return subprocess.run(
        [sys.executable, str(SCRIPT), role, "--config", str(config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_healthy_when_services_answer(
    broker: LocalBroker, influxdb: LocalInfluxDB, unique_name: str, tmp_path: Path
) -> None:
    cfg = _config(tmp_path, broker.port, influxdb.url, unique_name)
    for role in ("sim", "analytics"):
        result = _run(role, cfg)
        assert result.returncode == 0, f"{role}: {result.stderr}"


def test_collector_is_unhealthy_until_it_writes_its_own_health(
    broker: LocalBroker, influxdb: LocalInfluxDB, unique_name: str, tmp_path: Path
) -> None:
    cfg = _config(tmp_path, broker.port, influxdb.url, unique_name)
    with httpx.Client(base_url=influxdb.url) as http:
        http.post("/query", data={"q": f'CREATE DATABASE "{unique_name}"'}).raise_for_status()
        result = _run("collector", cfg)
        assert result.returncode == 1
        assert "collector 'collector-hc' wrote no pipeline health" in result.stderr
        line = f"pipeline,component=collector,instance=collector-hc messages=5i,points=50i {time.time_ns()}\n"
        r = http.post("/write", params={"db": unique_name}, content=line)
        assert r.status_code == 204, r.text
    result = _run("collector", cfg)
    assert result.returncode == 0, result.stderr


def test_unhealthy_when_the_broker_is_down(influxdb: LocalInfluxDB, tmp_path: Path) -> None:
    cfg = _config(tmp_path, free_port(), influxdb.url, "tonle")
    result = _run("sim", cfg)
    assert result.returncode == 1
    assert "MQTT broker 127.0.0.1" in result.stderr and "unreachable" in result.stderr


def test_unhealthy_when_influxdb_is_down(broker: LocalBroker, tmp_path: Path) -> None:
    cfg = _config(tmp_path, broker.port, f"http://127.0.0.1:{free_port()}", "tonle")
    result = _run("analytics", cfg)
    assert result.returncode == 1
    assert "InfluxDB" in result.stderr and "unreachable" in result.stderr


def test_a_bad_config_is_unhealthy_with_the_reason(tmp_path: Path) -> None:
    cfg = tmp_path / "tonle.toml"
    cfg.write_text("[mqtt]\nhots = 'x'\n")
    result = _run("sim", cfg)
    assert result.returncode == 1
    assert "'mqtt.hots' is not a known key" in result.stderr


def _tls(ca: Path, cert: Path, key: Path) -> str:
    return f'tls = true\nca_file = "{ca}"\ncert_file = "{cert}"\nkey_file = "{key}"\n'


def _identity(security: Path, name: str) -> str:
    return _tls(security / "ca.crt", security / f"{name}.crt", security / f"{name}.key")


def test_healthy_over_tls_with_the_containers_own_identity(
    deploy_broker: DeployBroker, deploy_security: Path, tmp_path: Path
) -> None:
    cfg = _config(tmp_path, deploy_broker.port, NO_DB, "x", _identity(deploy_security, "line-sim-1"))
    result = _run("sim", cfg)
    assert result.returncode == 0, result.stderr


def test_unhealthy_when_the_broker_refuses_a_revoked_certificate(
    deploy_broker: DeployBroker, deploy_security: Path, tmp_path: Path
) -> None:
    provision(deploy_security, "service", "hc-revoked", "--role", "analytics")
    deploy_broker.apply()  # `docker compose restart mosquitto`
    cfg = _config(tmp_path, deploy_broker.port, NO_DB, "x", _identity(deploy_security, "hc-revoked"))
    assert _run("sim", cfg).returncode == 0, "the certificate was refused before it was revoked"
    provision(deploy_security, "revoke", "hc-revoked")
    deploy_broker.apply()
    result = _run("sim", cfg)
    assert result.returncode == 1
    assert "refused this container's certificate" in result.stderr, result.stderr


def test_unhealthy_when_the_broker_is_not_the_plants(
    deploy_broker: DeployBroker, deploy_security: Path, tmp_path: Path
) -> None:
    other = PlantSecurity.open(tmp_path / "other")
    ours = deploy_security
    mqtt = _tls(other.authority.ca_file, ours / "collector-1.crt", ours / "collector-1.key")
    result = _run("sim", _config(tmp_path, deploy_broker.port, NO_DB, "x", mqtt))
    assert result.returncode == 1
    assert "is not the plant's broker" in result.stderr, result.stderr


def test_unhealthy_without_the_tls_files_naming_the_key(deploy_broker: DeployBroker, tmp_path: Path) -> None:
    result = _run("sim", _config(tmp_path, deploy_broker.port, NO_DB, "x", "tls = true\n"))
    assert result.returncode == 1
    assert "mqtt.cert_file" in result.stderr and "tonle provision" in result.stderr, result.stderr
