"""The plant CA: made once and loaded after, leaves that verify against it, revocation in the CRL."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from tonle.security.pki import Authority, PkiError


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _crl(ca: Authority) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(ca.crl_file.read_bytes())


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_ca_is_made_once_and_loaded_again_unchanged(tmp_path: Path):
    first = Authority.open(tmp_path / "pki")
    key_bytes = (tmp_path / "pki" / "ca.key").read_bytes()
    again = Authority.open(tmp_path / "pki")
    assert again.cert == first.cert
    assert (tmp_path / "pki" / "ca.key").read_bytes() == key_bytes
    # The loaded CA signs with the same key: a leaf it issues verifies under the first certificate.
    leaf = _cert(again.issue("gw-1").cert)
    leaf.verify_directly_issued_by(first.cert)
    assert first.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_key_files_are_readable_by_their_owner_only(tmp_path: Path):
    ca = Authority.open(tmp_path / "pki")
    ident = ca.issue("gw-1")
    assert _mode(tmp_path / "pki" / "ca.key") == 0o600
    assert _mode(ident.key) == 0o600


def test_a_client_leaf_verifies_against_the_ca_and_names_its_identity(tmp_path: Path):
    ca = Authority.open(tmp_path / "pki")
    ident = ca.issue("gw-1", role="gateway")
    leaf = _cert(ident.cert)
    leaf.verify_directly_issued_by(ca.cert)
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "gw-1"
    assert leaf.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == "gateway"
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    # Its key file holds the private key of the certificate's public key.
    key = serialization.load_pem_private_key(ident.key.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    public = leaf.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert key.public_key().public_numbers() == public.public_numbers()


def test_a_server_leaf_passes_a_tls_path_validation_for_its_host(tmp_path: Path):
    ca = Authority.open(tmp_path / "pki")
    leaf = _cert(ca.issue("broker", server_hosts=("localhost", "127.0.0.1")).cert)
    verifier = PolicyBuilder().store(Store([ca.cert])).build_server_verifier(x509.DNSName("localhost"))
    chain = verifier.verify(leaf, [])
    assert chain[-1] == ca.cert
    other_ca = Authority.open(tmp_path / "other")
    stranger = PolicyBuilder().store(Store([other_ca.cert])).build_server_verifier(x509.DNSName("localhost"))
    with pytest.raises(VerificationError):
        stranger.verify(leaf, [])


def test_revoking_an_identity_puts_its_serial_in_the_signed_crl_and_leaves_the_others(tmp_path: Path):
    ca = Authority.open(tmp_path / "pki")
    assert list(_crl(ca)) == []
    gone = _cert(ca.issue("gw-1").cert)
    kept = _cert(ca.issue("gw-2").cert)
    serial = ca.revoke("gw-1")
    assert serial == gone.serial_number
    crl = _crl(ca)
    ca_key = ca.cert.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    assert crl.is_signature_valid(ca_key)
    assert crl.get_revoked_certificate_by_serial_number(gone.serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(kept.serial_number) is None
    assert ca.revoked() == {gone.serial_number: "gw-1"}
    # Loaded again, the CA still lists it (the CRL is made from revoked.txt, kept in the folder).
    again = Authority.open(tmp_path / "pki")
    again.write_crl()
    assert _crl(again).get_revoked_certificate_by_serial_number(gone.serial_number) is not None


def test_a_name_that_cannot_be_a_file_or_has_no_certificate_is_refused_with_the_reason(tmp_path: Path):
    ca = Authority.open(tmp_path / "pki")
    for bad in ("", "a/b", "ca", "crl"):
        with pytest.raises(PkiError, match="cannot be an identity name"):
            ca.issue(bad)
    with pytest.raises(PkiError, match="no certificate for 'nobody'"):
        ca.revoke("nobody")
