"""Test certificates: a CA, a server certificate for localhost / 127.0.0.1, a client certificate.

Made with the `cryptography` package (a test dependency) into a directory, as PEM files the
`--tls_*` flags read and as bytes for `tfmtl.serving.tls`. EC P-256 keys: fast to make.

Example:

>>> import tempfile
>>> certs = write_certs(tempfile.mkdtemp())
>>> certs.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")
True
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclasses.dataclass(frozen=True)
class Certs:
    """The PEM files `write_certs` wrote, and their bytes (`*_pem`)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @property
    def ca_pem(self) -> bytes:
        return self.ca.read_bytes()

    @property
    def server_cert_pem(self) -> bytes:
        return self.server_cert.read_bytes()

    @property
    def server_key_pem(self) -> bytes:
        return self.server_key.read_bytes()

    @property
    def client_cert_pem(self) -> bytes:
        return self.client_cert.read_bytes()

    @property
    def client_key_pem(self) -> bytes:
        return self.client_key.read_bytes()


def write_certs(directory: Path, ca_name: str = "tfmtl test CA") -> Certs:
    """Write ca.pem, server.pem/server.key (localhost, 127.0.0.1), client.pem/client.key.

    Args:
        directory: Path. Where the files go (created if missing).
        ca_name: str. The CA's common name; two calls with different names make CAs that
            do not trust each other's certificates.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_subject = _name(ca_name)
    ca = _ca_certificate(ca_subject, ca_key)
    paths = {"ca": directory / "ca.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    names = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    for role, usage in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            _builder(
                _name("localhost" if role == "server" else "tfmtl test client"), ca_subject, key
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if role == "server":
            builder = builder.add_extension(names, critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        paths[f"{role}_cert"] = directory / f"{role}.pem"
        paths[f"{role}_key"] = directory / f"{role}.key"
        paths[f"{role}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths[f"{role}_key"].write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return Certs(**paths)


def _ca_certificate(subject: x509.Name, key) -> x509.Certificate:
    """A self-signed CA certificate that may sign leaf certificates only (path length 0)."""
    return (
        _builder(subject, subject, key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: x509.Name, issuer: x509.Name, key) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )
