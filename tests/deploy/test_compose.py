"""docker-compose.yml: valid, pinned, no default passwords, and consistent with the files it
mounts (broker config, Grafana provisioning, dashboards, tonle.toml).

`docker-compose config` validates and interpolates the file without a Docker engine.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from edge_agent.config import GatewayConfig
from tonle.config import load_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
DATASOURCE_UID = "tonle-influxdb"
COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"


RAW = COMPOSE_FILE.read_text()
# ${NAME:?message}: compose refuses to start without NAME. ${NAME:-default}: optional.
REQUIRED = sorted(set(re.findall(r"\$\{(\w+):\?", RAW)))
OPTIONAL = sorted(set(re.findall(r"\$\{(\w+):-", RAW)))
ACL_USERS = re.findall(r"^user (\S+)", (DEPLOY / "mosquitto" / "acl").read_text(), re.M)


def _sentinels() -> dict[str, str]:
    """A distinct, recognisable value for every required variable."""
    return {name: f"sentinel-{name.lower()}-5f3a" for name in REQUIRED}


def run_compose(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`docker-compose config` with exactly `env`: an empty --env-file hides any local .env."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    return subprocess.run(
        [COMPOSE, "--env-file", str(empty), "-f", str(COMPOSE_FILE), "config"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def load_yaml(text: str) -> Any:
    return yaml.safe_load(text)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = run_compose(_sentinels(), tmp_path_factory.mktemp("compose"))
    assert result.returncode == 0, f"docker-compose config failed:\n{result.stderr}"
    return load_yaml(result.stdout)


def _bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    mounts = []
    for v in service.get("volumes", []):
        if isinstance(v, dict):
            if v.get("type") == "bind":
                mounts.append((Path(v["source"]), v["target"]))
            continue
        source, target = v.split(":")[:2]
        if source.startswith("/"):
            mounts.append((Path(source), target))
    return mounts


def test_config_is_valid_with_the_required_variables(config: dict[str, Any]) -> None:
    assert {
        "mosquitto",
        "mosquitto-init",
        "influxdb",
        "grafana",
        "collector",
        "analytics",
        "line-sim",
    } <= set(config["services"])


@pytest.mark.parametrize("missing", REQUIRED)
def test_config_fails_and_names_a_missing_password(missing: str, tmp_path: Path) -> None:
    env = _sentinels()
    del env[missing]
    result = run_compose(env, tmp_path)
    assert result.returncode != 0, f"compose started without {missing}"
    assert missing in result.stderr, f"the error does not name {missing}:\n{result.stderr}"


def test_every_password_is_required() -> None:
    assert REQUIRED, "no variable is required; passwords must have no default"
    for name in OPTIONAL:
        assert not re.search(r"PASSWORD|SECRET|TOKEN", name), f"{name} has a default in compose"
    for name in REQUIRED:
        assert re.search(r"PASSWORD", name), f"{name} is required but is not a password"


def test_no_service_has_a_default_password(config: dict[str, Any]) -> None:
    given = set(_sentinels().values())
    for name, service in config["services"].items():
        env = service.get("environment") or {}
        for key, value in env.items():
            if re.search(r"PASSWORD|SECRET|TOKEN", key) and not key.endswith("_ENV"):
                assert value in given, f"{name}: {key}={value!r} does not come from .env"


def test_env_example_lists_every_variable() -> None:
    example = (DEPLOY / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*(\w+)=", example, re.M))
    missing = (set(REQUIRED) | set(OPTIONAL)) - listed
    assert not missing, f"deploy/.env.example does not list {sorted(missing)}"
    for name in REQUIRED:
        assert re.search(rf"^{name}=$", example, re.M), f"{name} must be listed empty, no default"


def test_images_are_pinned(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        image = service.get("image")
        assert image, f"{name} has no image name"
        assert ":" in image.rsplit("/", 1)[-1], f"{name}: image {image!r} has no tag"
        tag = image.rsplit(":", 1)[1]
        assert tag != "latest", f"{name}: image {image!r} is not pinned"
    images = {s["image"] for s in config["services"].values()}
    assert {"eclipse-mosquitto:2.0.18", "influxdb:1.8.10"} <= images
    (grafana,) = [i for i in images if i.startswith("grafana/grafana-oss:")]
    assert re.fullmatch(r"grafana/grafana-oss:11\.\d+\.\d+", grafana)
    base = re.search(r"^FROM\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert base and ":" in base.group(1) and not base.group(1).endswith(":latest")
    assert base.group(1).startswith("python:3.11-slim")


def test_services_restart_and_have_healthchecks(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        if name == "mosquitto-init":
            assert service.get("restart") == "no"
            continue
        assert service.get("restart") == "unless-stopped", name
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_state_lives_in_named_volumes(config: dict[str, Any]) -> None:
    wanted = {"mosquitto": "/mosquitto/data", "influxdb": "/var/lib/influxdb", "grafana": "/var/lib/grafana"}
    for name, target in wanted.items():
        volumes = config["services"][name].get("volumes", [])
        named = [v for v in volumes if isinstance(v, str) and not v.startswith("/")]
        named += [v["source"] for v in volumes if isinstance(v, dict) and v.get("type") == "volume"]
        assert any(target in str(v) for v in volumes), f"{name} keeps no state at {target}"
        assert named, f"{name} has no named volume"


def test_bind_mounts_exist(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        for source, target in _bind_mounts(service):
            assert source.exists(), f"{name} mounts {source} at {target}, which does not exist"
            assert source.resolve().is_relative_to(ROOT), f"{name} mounts {source} from outside"


def test_broker_setup(config: dict[str, Any]) -> None:
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
    for line in (
        "max_queued_messages 100000",
        "max_inflight_messages 0",
        "allow_anonymous false",
        "persistence true",
        "password_file /mosquitto/auth/passwd",
        "acl_file /mosquitto/auth/acl",
    ):
        assert re.search(rf"^{re.escape(line)}$", conf, re.M), f"mosquitto.conf lacks {line!r}"
    broker = config["services"]["mosquitto"]
    assert "/etc/tonle/mosquitto/mosquitto.conf" in broker["command"]
    assert broker["depends_on"]["mosquitto-init"]["condition"] == "service_completed_successfully"
    init = config["services"]["mosquitto-init"]
    script = (DEPLOY / "mosquitto" / "init-auth.sh").read_text()
    users = re.findall(r"^add_user (\w+) (\w+)$", script, re.M)
    assert users, "init-auth.sh adds no users"
    assert {u for u, _ in users} | {"healthcheck"} == set(ACL_USERS)
    for _, var in users:
        assert init["environment"].get(var) == _sentinels()[var], f"mosquitto-init lacks {var}"


def test_grafana_provisioning_matches_the_dashboards(config: dict[str, Any]) -> None:
    grafana = config["services"]["grafana"]
    mounts = {target: source for source, target in _bind_mounts(grafana)}
    datasources = mounts["/etc/grafana/provisioning/datasources"]
    providers = mounts["/etc/grafana/provisioning/dashboards"]
    ds_files = sorted(datasources.glob("*.yaml"))
    assert ds_files, f"no datasource provisioning in {datasources}"
    sources = [d for f in ds_files for d in load_yaml(f.read_text())["datasources"]]
    (tonle,) = [d for d in sources if d["uid"] == DATASOURCE_UID]
    assert tonle["type"] == "influxdb" and tonle["jsonData"]["version"] == "InfluxQL"
    assert urlsplit(tonle["url"]).hostname == "influxdb" and "influxdb" in config["services"]
    assert tonle["jsonData"]["dbName"] == config["services"]["influxdb"]["environment"]["INFLUXDB_DB"]
    # The provisioning file takes the read-only user's name and password from the environment.
    for ref in re.findall(r"\$\{(\w+)\}", (datasources / ds_files[0].name).read_text()):
        assert grafana["environment"].get(ref), f"grafana has no {ref} for the datasource"
    assert grafana["environment"]["TONLE_GRAFANA_INFLUXDB_PASSWORD"] == _sentinels()["INFLUXDB_READ_PASSWORD"]

    provider_files = sorted(providers.glob("*.yaml"))
    assert provider_files, f"no dashboard provider in {providers}"
    (provider,) = [p for f in provider_files for p in load_yaml(f.read_text())["providers"]]
    dash_dir = mounts[provider["options"]["path"]]
    assert dash_dir == ROOT / "dashboards"
    dashboards = sorted(dash_dir.glob("*.json"))
    assert {p.name for p in dashboards} >= {"line-overview.json", "pipeline-health.json"}
    for path in dashboards:
        text = path.read_text()
        uids = set(re.findall(r'"uid":\s*"([^"]+)"', text))
        dash_uid = json.loads(text)["uid"]
        assert uids - {dash_uid, "-- Grafana --"} == {DATASOURCE_UID}, f"{path.name}: {uids}"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (dash_dir / Path(home).name).exists() and home.startswith(provider["options"]["path"])


def load_gateway_config_with_env(path: Path | str, env: dict[str, str]) -> GatewayConfig:
    """The simulated line's gateway config, as `tonle sim` reads it inside its container."""
    return load_config(path, env=env, root=GatewayConfig)


APP_SERVICES = {"collector": "collector", "analytics": "analytics", "line-sim": "agent"}


@pytest.mark.parametrize(("service", "mqtt_user"), sorted(APP_SERVICES.items()))
def test_tonle_toml_loads_in_each_app_container(
    config: dict[str, Any], service: str, mqtt_user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = config["services"][service]
    assert svc["command"][:2] == ["tonle", {"line-sim": "sim"}.get(service, service)]
    (toml_path,) = [s for s, t in _bind_mounts(svc) if t == svc["command"][-1]]
    env = svc["environment"]
    for key, value in env.items():  # password_env is read from the process environment
        monkeypatch.setenv(key, value)
    if service == "line-sim":
        cfg = load_gateway_config_with_env(toml_path, env)
    else:
        cfg = load_config(toml_path, env=env)
    assert cfg.mqtt.host in config["services"], f"{service}: broker host {cfg.mqtt.host!r}"
    assert cfg.mqtt.username == mqtt_user, f"{service} logs in as {cfg.mqtt.username!r}"
    assert mqtt_user in ACL_USERS
    sentinel = _sentinels()[f"MQTT_{mqtt_user.upper()}_PASSWORD"]
    assert cfg.mqtt.password() == sentinel, f"{service} would log in with the wrong password"
    if service != "line-sim":
        assert urlsplit(cfg.influxdb.url).hostname in config["services"]
        assert cfg.influxdb.database == config["services"]["influxdb"]["environment"]["INFLUXDB_DB"]
        assert cfg.influxdb.username == config["services"]["influxdb"]["environment"]["INFLUXDB_USER"]
        assert cfg.influxdb.password() == _sentinels()["INFLUXDB_WRITE_PASSWORD"]
    deps = svc["depends_on"]
    assert deps["mosquitto"]["condition"] == "service_healthy"


def test_client_ids_are_stable_and_distinct(config: dict[str, Any]) -> None:
    ids = [config["services"][s]["environment"]["TONLE_MQTT_CLIENT_ID"] for s in APP_SERVICES]
    assert len(set(ids)) == len(ids), ids


def test_dockerignore_keeps_secrets_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".git" in ignored and ".venv" in ignored
