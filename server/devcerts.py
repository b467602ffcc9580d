"""Local dev CA and TLS certificate for 127.0.0.1, ::1 and localhost (generated on first run).

msal refuses http authorities and Dynamics only loads https widgets, so the local stack
is HTTPS. Keys live in the state directory, never in git.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOSTNAMES = ("localhost",)
ADDRESSES = ("127.0.0.1", "::1")


@dataclass(frozen=True)
class DevCerts:
    ca: Path
    cert: Path
    key: Path

    def spki_sha256(self) -> str:
        """Base64 SHA-256 of the server key's SubjectPublicKeyInfo (Chromium's
        --ignore-certificate-errors-spki-list pins exactly this key, nothing else)."""
        cert = x509.load_pem_x509_certificate(self.cert.read_bytes())
        spki = cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CIF adaptor local dev"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ))
    path.chmod(0o600)


def ensure_dev_certs(directory: Path) -> DevCerts:
    """Create the CA and server certificate once; later calls return the existing files."""
    directory.mkdir(parents=True, exist_ok=True)
    certs = DevCerts(directory / "ca.pem", directory / "server.pem", directory / "server-key.pem")
    if certs.ca.exists() and certs.cert.exists() and certs.key.exists():
        return certs

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("CIF adaptor local dev CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False,
            encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName(h) for h in HOSTNAMES] + [x509.IPAddress(ipaddress.ip_address(a)) for a in ADDRESSES]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost")).issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=397))  # browsers cap leaf lifetime
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    _write_key(directory / "ca-key.pem", ca_key)
    _write_key(certs.key, key)
    certs.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    # The server presents leaf + CA so clients that trust the CA can build the chain.
    certs.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    # System CAs + ours, for CPython clients (msal, the CLI) that talk to Entra and to us.
    (directory / "bundle.pem").write_bytes(Path(certifi.where()).read_bytes() + b"\n" + certs.ca.read_bytes())
    return certs
