"""`tonle provision`, run as a technician would: the CA once, a gateway folder, refusals, revocation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cryptography import x509

from edge_agent.config import load_gateway_config


def provision(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tonle.app.cli", "provision", "--dir", str(folder), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_gateway_folder_is_a_config_that_connects_as_that_gateway(tmp_path: Path) -> None:
    sec = tmp_path / "security"
    assert provision(sec, "init", "--broker-host", "192.168.10.5").returncode == 0
    done = provision(sec, "gateway", "gw-l1", "--site", "pp", "--area", "sewing", "--line", "L1",
                     "--broker-host", "192.168.10.5")  # fmt: skip
    assert done.returncode == 0, done.stderr
    bundle = sec / "gateways" / "gw-l1"
    assert str(bundle) in done.stdout and "restart mosquitto" in done.stdout
    (bundle / "gateway.toml").write_text(
        (bundle / "gateway.toml").read_text()
        + '\n[[devices]]\ntype = "serial"\nname = "node-S01"\nport = "/dev/ttyUSB0"\nmachine = "S01"\n'
        + 'machine_type = "lockstitch"\n'
    )
    cfg = load_gateway_config(bundle / "gateway.toml")
    assert (cfg.agent.id, cfg.agent.site, cfg.agent.line, cfg.mqtt.port) == ("gw-l1", "pp", "L1", 8883)
    ca, cert, key = cfg.mqtt.tls_files() or ("", "", "")
    assert Path(ca) == bundle / "ca.crt" and Path(key) == bundle / "gateway.key"  # beside the config
    assert oct((bundle / "gateway.key").stat().st_mode & 0o777) == "0o600"
    name = x509.load_pem_x509_certificate(Path(cert).read_bytes()).subject.rfc4514_string()
    assert "CN=gw-l1" in name
    broker = x509.load_pem_x509_certificate((sec / "broker.crt").read_bytes())
    sans = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "192.168.10.5" in [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)]


def test_look_alike_and_overlapping_identities_are_refused_with_both_names(tmp_path: Path) -> None:
    sec = tmp_path / "security"
    provision(sec, "init")
    assert provision(sec, "gateway", "gw-a", "--site", "pp", "--area", "sewing", "--line", "L1",
                     "--machines", "S01,S02").returncode == 0  # fmt: skip
    look_alike = provision(sec, "gateway", "gw-b", "--site", "pp", "--area", "sewing", "--line", "Ｌ1")
    assert look_alike.returncode == 2 and "'Ｌ1'" in look_alike.stderr and "'L1'" in look_alike.stderr
    shared = provision(sec, "gateway", "gw-c", "--site", "pp", "--area", "sewing", "--line", "L1",
                       "--machines", "S02,S03")  # fmt: skip
    assert shared.returncode == 2 and "S02" in shared.stderr and "gw-a" in shared.stderr
    assert provision(sec, "gateway", "gw-d", "--site", "pp", "--area", "sewing", "--line", "L1",
                     "--machines", "S03").returncode == 0  # fmt: skip
    no_ca = provision(tmp_path / "elsewhere", "service", "c1", "--role", "collector")
    assert no_ca.returncode == 2 and "provision init" in no_ca.stderr


def test_revoking_a_gateway_takes_its_certificate_and_its_rules_back(tmp_path: Path) -> None:
    sec = tmp_path / "security"
    provision(sec, "init")
    for gw, line in (("gw-a", "L1"), ("gw-b", "L2")):
        provision(sec, "gateway", gw, "--site", "pp", "--area", "sewing", "--line", line)
    serial = x509.load_pem_x509_certificate((sec / "gw-a.crt").read_bytes()).serial_number
    assert provision(sec, "revoke", "gw-a").returncode == 0
    crl = x509.load_pem_x509_crl((sec / "crl.pem").read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(serial) is not None
    rules = json.loads((sec / "dynsec.json").read_text())
    assert [c["username"] for c in rules["clients"]] == ["gw-b"]
    assert not (sec / "gateways" / "gw-a").exists()  # its key is not left on the server
    listing = provision(sec, "list").stdout
    assert "gw-a" in listing and "revoked" in listing and "active" in listing
