"""docker-compose.yml: valid, pinned, no default passwords, and consistent with the files it
mounts (broker config, security folder, Grafana provisioning, dashboards, tonle.toml).

`docker-compose config` validates and interpolates the file without a Docker engine. The
security folder the services mount is made here by deploy/provision.sh, the script of the
`provision` service, so every certificate a service names is one the script really makes.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import ssl
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from edge_agent.config import GatewayConfig
from tests.deploy.deploy_broker import DeployBroker, run_provision_sh
from tonle.config import load_config
from tonle.security.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
DATASOURCE_UID = "tonle-influxdb"
COMPOSE = shutil.which("docker-compose") or "/usr/bin/docker-compose"


RAW = COMPOSE_FILE.read_text()
# ${NAME:?message}: compose refuses to start without NAME. ${NAME:-default}: optional.
REQUIRED = sorted(set(re.findall(r"\$\{(\w+):\?", RAW)))
OPTIONAL = sorted(set(re.findall(r"\$\{(\w+):-", RAW)))
# Not secrets: what gateways connect to; required because the broker's certificate names it.
REQUIRED_NOT_SECRET = {"TONLE_BROKER_HOST"}
SECURITY = DEPLOY / "security"  # gitignored: made by the provision service on the first `up`
BROKER_CONF_DIR = "/etc/tonle/security"


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
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The security folder the `provision` service makes on the first `up` (deploy/provision.sh)."""
    folder = tmp_path_factory.mktemp("compose-security") / "security"
    result = run_provision_sh(folder)
    assert result.returncode == 0, result.stderr
    return folder


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
        "provision",
        "mosquitto",
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
    for name in set(REQUIRED) - REQUIRED_NOT_SECRET:
        assert re.search(r"PASSWORD", name), f"{name} is required but is not a password"
    mqtt_vars = [n for n in REQUIRED + OPTIONAL if n.startswith("MQTT_")]
    assert not mqtt_vars, f"MQTT has certificates, no passwords: {mqtt_vars}"


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
        if name == "provision":
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


def test_bind_mounts_exist(config: dict[str, Any], provisioned: Path) -> None:
    for name, service in config["services"].items():
        for source, target in _bind_mounts(service):
            assert source.resolve().is_relative_to(ROOT), f"{name} mounts {source} from outside"
            if source.is_relative_to(SECURITY):
                source = provisioned / source.relative_to(SECURITY)
            assert source.exists(), f"{name} mounts {source} at {target}, which does not exist"


def _active_lines(conf: str) -> list[str]:
    return [line for line in conf.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_broker_speaks_tls_with_certificates_only(config: dict[str, Any]) -> None:
    lines = _active_lines((DEPLOY / "mosquitto" / "mosquitto.conf").read_text())
    for line in (
        "max_queued_messages 100000",
        "max_inflight_messages 0",
        "allow_anonymous false",
        "persistence true",
        "require_certificate true",
        "use_identity_as_username true",
        "use_username_as_clientid true",
        "plugin /usr/lib/mosquitto_dynamic_security.so",  # in the eclipse-mosquitto image
        f"plugin_opt_config_file {BROKER_CONF_DIR}/dynsec.json",
        f"crlfile {BROKER_CONF_DIR}/crl.pem",
        f"cafile {BROKER_CONF_DIR}/ca.crt",
    ):
        assert line in lines, f"mosquitto.conf lacks {line!r}"
    assert [line for line in lines if line.startswith("listener")] == ["listener 8883"], "one TLS listener"
    assert not [line for line in lines if line.startswith(("password_file", "acl_file"))]
    # The per-listener settings count only after the listener line (mosquitto 2.0).
    after = lines[lines.index("listener 8883") :]
    per_listener = {"use_identity_as_username true", "use_username_as_clientid true"}
    per_listener.add("require_certificate true")
    assert per_listener <= set(after), "a per-listener setting is before the listener line"
    broker = config["services"]["mosquitto"]
    assert "/etc/tonle/mosquitto/mosquitto.conf" in broker["command"]
    assert [t for _, t in _ports(broker)] == ["8883"], "a plain-text port is published"


def _ports(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(published, target) of each port, from compose's long or short syntax."""
    out = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            out.append((str(port.get("published", "")), str(port["target"])))
        else:
            *_, published, target = str(port).split(":")
            out.append((published, target))
    return out


def test_no_plaintext_mqtt_port_is_published(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        for published, target in _ports(service):
            assert "1883" not in (published, target), f"{name} publishes the plain-text MQTT port"


def test_the_broker_mounts_its_own_files_only(config: dict[str, Any], provisioned: Path) -> None:
    broker = config["services"]["mosquitto"]
    mounts = {target: source for source, target in _bind_mounts(broker)}
    assert mounts[BROKER_CONF_DIR] == SECURITY / "broker", "the broker must mount security/broker only"
    assert sorted(p.name for p in (provisioned / "broker").iterdir()) == [
        "broker.crt",
        "broker.key",
        "ca.crt",
        "crl.pem",
        "dynsec.json",
    ]
    keys = [s for s in mounts.values() if s.is_relative_to(SECURITY) and s.suffix == ".key"]
    assert [k.name for k in keys] == ["healthcheck.key"], keys
    assert all(v.endswith(":ro") for v in broker["volumes"] if isinstance(v, str) and "/security" in v)
    assert broker["depends_on"]["provision"]["condition"] == "service_completed_successfully"


def test_the_broker_healthcheck_uses_its_own_identity(config: dict[str, Any], provisioned: Path) -> None:
    broker = config["services"]["mosquitto"]
    args = dict(re.findall(r"(--?[a-z]+) (\S+)", broker["healthcheck"]["test"][1]))
    mounts = {target: source for source, target in _bind_mounts(broker)}
    assert args["-p"] == "8883" and args["-h"] == "localhost"
    assert args["--cafile"] == f"{BROKER_CONF_DIR}/ca.crt"
    for flag, file in (("--cert", "healthcheck.crt"), ("--key", "healthcheck.key")):
        assert mounts[args[flag]] == SECURITY / file, flag
    member = Registry.open(provisioned).members["healthcheck"]
    assert member.role == "healthcheck" and not member.revoked


def test_the_provision_service_runs_first_and_makes_the_security_folder(config: dict[str, Any]) -> None:
    prov = config["services"]["provision"]
    assert prov["command"] == ["sh", "/etc/tonle/provision.sh"]
    assert prov["user"] in ("0:0", "0", "root"), "only root can give the broker's key to uid 1883"
    mounts = {target: source for source, target in _bind_mounts(prov)}
    assert mounts["/etc/tonle/security"] == SECURITY and prov["working_dir"] == "/etc/tonle"
    for name, service in config["services"].items():
        uses = [s for s, _ in _bind_mounts(service) if s.is_relative_to(SECURITY)]
        if name == "provision" or not uses:
            continue
        cond = service.get("depends_on", {}).get("provision", {}).get("condition")
        assert cond == "service_completed_successfully", f"{name} may start before provision"


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
    provided = [p for f in provider_files for p in load_yaml(f.read_text())["providers"]]
    # One provider, folder and mounted folder per language: English, and Khmer written from it.
    dirs = {p["name"]: mounts[p["options"]["path"]] for p in provided}
    assert dirs == {"tonle": ROOT / "dashboards" / "en", "tonle-km": ROOT / "dashboards" / "km"}
    assert len({p["folder"] for p in provided}) == len({p["folderUid"] for p in provided}) == 2
    all_uids: list[str] = []
    for dash_dir in dirs.values():
        dashboards = sorted(dash_dir.glob("*.json"))
        assert {p.name for p in dashboards} >= {"line-overview.json", "line-tv.json", "pipeline-health.json"}
        for path in dashboards:
            text = path.read_text()
            uids = set(re.findall(r'"uid":\s*"([^"]+)"', text))
            dash_uid = json.loads(text)["uid"]
            all_uids.append(dash_uid)
            assert uids - {dash_uid, "-- Grafana --"} == {DATASOURCE_UID}, f"{path.name}: {uids}"
    assert len(all_uids) == len(set(all_uids)), f"two dashboards share a uid: {all_uids}"
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    (english,) = [p for p in provided if p["name"] == "tonle"]
    assert home == english["options"]["path"] + "/line-overview.json"
    assert (dirs["tonle"] / Path(home).name).exists()


def test_the_home_dashboard_follows_the_plant_language(tmp_path: Path) -> None:
    result = run_compose({**_sentinels(), "TONLE_DASHBOARD_LANGUAGE": "km"}, tmp_path)
    assert result.returncode == 0, result.stderr
    grafana = load_yaml(result.stdout)["services"]["grafana"]
    home = Path(grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"])
    assert home == Path("/etc/tonle/dashboards/km/line-overview.json")
    assert (ROOT / "dashboards" / "km" / home.name).exists()


def load_gateway_config_with_env(path: Path | str, env: dict[str, str]) -> GatewayConfig:
    """The simulated line's gateway config, as `tonle sim` reads it inside its container."""
    return load_config(path, env=env, root=GatewayConfig)


# Each MQTT service and the identity (certificate name) and role provision.sh gives it.
APP_SERVICES = {
    "collector": ("collector-1", "collector"),
    "analytics": ("analytics-1", "analytics"),
    "line-sim": ("line-sim-1", "gateway"),
}
TLS_ENV = ("TONLE_MQTT_CA_FILE", "TONLE_MQTT_CERT_FILE", "TONLE_MQTT_KEY_FILE")


def _host_env(svc: dict[str, Any], provisioned: Path) -> dict[str, str]:
    """The service's environment with its TLS paths as they are on this host (mount sources)."""
    mounts = {target: source for source, target in _bind_mounts(svc)}
    env = dict(svc["environment"])
    for key in TLS_ENV:
        source = mounts[env[key]]
        env[key] = str(provisioned / source.relative_to(SECURITY))
    return env


@pytest.mark.parametrize("service", sorted(APP_SERVICES))
def test_every_mqtt_service_has_its_own_identity_and_tls_files(
    config: dict[str, Any], provisioned: Path, service: str
) -> None:
    name, role = APP_SERVICES[service]
    svc = config["services"][service]
    env = svc["environment"]
    assert not [k for k in env if "MQTT" in k and ("PASSWORD" in k or "USERNAME" in k)], env
    mounts = {target: source for source, target in _bind_mounts(svc)}
    files = [mounts.get(env.get(key, "")) for key in TLS_ENV]
    assert files == [SECURITY / "ca.crt", SECURITY / f"{name}.crt", SECURITY / f"{name}.key"], files
    for volume in svc["volumes"]:
        if isinstance(volume, str) and "/security/" in volume:
            assert volume.endswith(":ro"), f"{service} mounts {volume} writable"
    member = Registry.open(provisioned).members[name]
    assert (member.role, member.revoked) == (role, False)
    assert env["TONLE_MQTT_CLIENT_ID"] == name, "the broker forces the client id to the certificate's name"


def test_no_service_mounts_another_services_key(config: dict[str, Any]) -> None:
    owners: dict[Path, list[str]] = {}
    for name, service in config["services"].items():
        for source, _ in _bind_mounts(service):
            if source.is_relative_to(SECURITY) and source.suffix == ".key":
                owners.setdefault(source, []).append(name)
    shared = {k.name: v for k, v in owners.items() if len(v) > 1}
    assert not shared, f"keys mounted by more than one service: {shared}"
    assert SECURITY / "ca.key" not in owners, "the CA key is mounted into a container"


@pytest.mark.parametrize("service", sorted(APP_SERVICES))
def test_tonle_toml_loads_in_each_app_container(
    config: dict[str, Any], provisioned: Path, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc = config["services"][service]
    assert svc["command"][:2] == ["tonle", {"line-sim": "sim"}.get(service, service)]
    (toml_path,) = [s for s, t in _bind_mounts(svc) if t == svc["command"][-1]]
    env = _host_env(svc, provisioned)
    for key, value in env.items():  # password_env is read from the process environment
        monkeypatch.setenv(key, value)
    if service == "line-sim":
        cfg = load_gateway_config_with_env(toml_path, env)
        assert cfg.agent.id == APP_SERVICES[service][0], "the agent id must be its certificate's name"
    else:
        cfg = load_config(toml_path, env=env)
    assert cfg.mqtt.host in config["services"], f"{service}: broker host {cfg.mqtt.host!r}"
    assert (cfg.mqtt.tls, cfg.mqtt.port) == (True, 8883)
    assert cfg.mqtt.tls_files() == tuple(env[k] for k in TLS_ENV)
    if service != "line-sim":
        assert urlsplit(cfg.influxdb.url).hostname in config["services"]
        assert cfg.influxdb.database == config["services"]["influxdb"]["environment"]["INFLUXDB_DB"]
        assert cfg.influxdb.username == config["services"]["influxdb"]["environment"]["INFLUXDB_USER"]
        assert cfg.influxdb.password() == _sentinels()["INFLUXDB_WRITE_PASSWORD"]
    deps = svc["depends_on"]
    assert deps["mosquitto"]["condition"] == "service_healthy"


@pytest.mark.services
@pytest.mark.parametrize("service", sorted(APP_SERVICES))
def test_each_app_container_is_accepted_by_the_production_broker(
    config: dict[str, Any], deploy_broker: DeployBroker, deploy_security: Path, service: str
) -> None:
    """The container's own files, on the broker compose runs: it trusts the broker, the broker it.

    TLS 1.2, so a refused certificate fails the handshake itself; the broker's certificate must
    name `mosquitto`, the host the containers connect to.
    """
    svc = config["services"][service]
    env = _host_env(svc, deploy_security)
    ctx = ssl.create_default_context(cafile=env["TONLE_MQTT_CA_FILE"])
    ctx.load_cert_chain(env["TONLE_MQTT_CERT_FILE"], env["TONLE_MQTT_KEY_FILE"])
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with socket.create_connection(("127.0.0.1", deploy_broker.port), timeout=10) as sock:
        ctx.wrap_socket(sock, server_hostname="mosquitto").close()


def test_client_ids_are_stable_and_distinct(config: dict[str, Any]) -> None:
    ids = [config["services"][s]["environment"]["TONLE_MQTT_CLIENT_ID"] for s in APP_SERVICES]
    assert len(set(ids)) == len(ids), ids


def test_dockerignore_keeps_secrets_out_of_the_image() -> None:
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".git" in ignored and ".venv" in ignored
