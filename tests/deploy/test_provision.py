"""deploy/provision.sh, compose's `provision` service: safe on every start, each key to its reader.

The script runs here as it runs in the container (root, unless the tests run as another
user: then every owner is that user), with the same `tonle provision` flags.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from cryptography import x509

from tests.deploy.deploy_broker import BROKER_HOST, provision, run_provision_sh
from tonle.security.registry import Registry

BROKER_FILES = ["broker.crt", "broker.key", "ca.crt", "crl.pem", "dynsec.json"]
ROOT_RUN = os.getuid() == 0


def _owner(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def _snapshot(folder: Path) -> dict[str, tuple[bytes, tuple[int, int], int]]:
    return {
        str(p.relative_to(folder)): (p.read_bytes(), _owner(p), _mode(p))
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _clients(rules: Path) -> set[str]:
    return {c["username"] for c in json.loads(rules.read_text())["clients"]}


def _hosts(cert: Path) -> set[str]:
    c = x509.load_pem_x509_certificate(cert.read_bytes())
    san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(v) for v in san.get_values_for_type(x509.DNSName)}


@pytest.fixture(scope="module")
def first_start(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("first-start") / "security"
    result = run_provision_sh(folder)
    assert result.returncode == 0, result.stderr
    return folder


def _fresh(first_start: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "security"
    shutil.copytree(first_start, copy, symlinks=True)
    if ROOT_RUN:  # copytree keeps modes, not owners
        for src in [first_start, *first_start.rglob("*")]:
            dst = copy / src.relative_to(first_start)
            st = src.stat()
            os.chown(dst, st.st_uid, st.st_gid)
    return copy


def test_each_key_belongs_to_the_one_user_that_reads_it(first_start: Path) -> None:
    me = (os.getuid(), os.getgid())
    broker_uid, service_uid = ((1883, 1883), (10001, 10001)) if ROOT_RUN else (me, me)
    broker = first_start / "broker"
    assert sorted(p.name for p in broker.iterdir()) == BROKER_FILES
    assert (_owner(broker), _mode(broker)) == (broker_uid, 0o700)
    assert (_owner(broker / "broker.key"), _mode(broker / "broker.key")) == (broker_uid, 0o600)
    for name in ("collector-1", "analytics-1", "line-sim-1"):
        key = first_start / f"{name}.key"
        assert (_owner(key), _mode(key)) == (service_uid, 0o600), name
    for name in ("ca.key", "healthcheck.key"):
        assert (_owner(first_start / name), _mode(first_start / name)) == (me, 0o600), name
    assert {"mosquitto", BROKER_HOST, "localhost"} <= _hosts(first_start / "broker.crt")
    members = Registry.open(first_start).members
    roles = {n: m.role for n, m in members.items()}
    assert roles == {
        "collector-1": "collector",
        "analytics-1": "analytics",
        "healthcheck": "healthcheck",
        "line-sim-1": "gateway",
    }


def test_every_later_start_keeps_everything(first_start: Path, tmp_path: Path) -> None:
    folder = _fresh(first_start, tmp_path)
    before = _snapshot(folder)
    result = run_provision_sh(folder)
    assert result.returncode == 0, result.stderr
    assert "kept as it is" in result.stdout
    assert _snapshot(folder) == before


def test_a_new_broker_address_reissues_the_broker_certificate_only(first_start: Path, tmp_path: Path) -> None:
    folder = _fresh(first_start, tmp_path)
    before = _snapshot(folder)
    result = run_provision_sh(folder, broker_host="10.20.30.40")
    assert result.returncode == 0, result.stderr
    after = _snapshot(folder)
    changed = sorted(k for k in after if after[k][0] != before[k][0])
    assert changed == ["broker.crt", "broker.key", "broker/broker.crt", "broker/broker.key"]
    assert after["broker/broker.key"][1:] == before["broker/broker.key"][1:], "the broker lost its key"
    san = x509.load_pem_x509_certificate((folder / "broker" / "broker.crt").read_bytes())
    ips = san.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "10.20.30.40" in {str(v) for v in ips.get_values_for_type(x509.IPAddress)}


def test_a_revoked_identity_stays_revoked(first_start: Path, tmp_path: Path) -> None:
    folder = _fresh(first_start, tmp_path)
    provision(folder, "revoke", "line-sim-1")
    crl = (folder / "crl.pem").read_bytes()
    result = run_provision_sh(folder)
    assert result.returncode == 0, result.stderr
    assert Registry.open(folder).members["line-sim-1"].revoked
    assert "line-sim-1" not in _clients(folder / "broker" / "dynsec.json")
    assert (folder / "broker" / "crl.pem").read_bytes() == crl


def test_the_broker_folder_follows_every_change(first_start: Path, tmp_path: Path) -> None:
    folder = _fresh(first_start, tmp_path)
    provision(folder, "gateway", "gw-x", "--site", "s1", "--area", "a1", "--line", "l1")
    assert "gw-x" in _clients(folder / "broker" / "dynsec.json")
    provision(folder, "revoke", "gw-x")
    assert "gw-x" not in _clients(folder / "broker" / "dynsec.json")
    for name in ("dynsec.json", "crl.pem"):
        assert (folder / "broker" / name).read_bytes() == (folder / name).read_bytes(), name
    if ROOT_RUN:
        assert _owner(folder / "broker" / "dynsec.json") == (1883, 1883), "a rewritten file lost its owner"


def test_the_script_refuses_to_start_without_the_broker_address(tmp_path: Path) -> None:
    result = run_provision_sh(tmp_path / "security", broker_host="")
    assert result.returncode != 0
    assert "TONLE_BROKER_HOST" in result.stderr
    assert not (tmp_path / "security").exists()
