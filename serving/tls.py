"""TLS for the servers' ports and for the channels that call them, from PEM bytes or files.

`ServerTls` is what a port presents (certificate chain and key) and, for mutual TLS, the CA
its clients' certificates must chain to; `ChannelTls` is what a channel trusts (the CA; None:
the system roots) and, for mutual TLS, the certificate it presents. `channel` opens either
kind, so every caller opens its channels one way:

Example:

>>> ServerTls.from_files("missing/server.pem", "missing/server.key")
Traceback (most recent call last):
    ...
ValueError: --tls_cert missing/server.pem: No such file or directory.
>>> insecure = channel("127.0.0.1:8500", None)                      # a ChannelTls: secure
>>> insecure.close()

`from_files` reads every file at once and checks it (PEM, a key that matches its
certificate), so a wrong path is one line naming the flag and the file at startup, not a
failed handshake on the first request.
"""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path

import grpc

_TARGET_NAME = "grpc.ssl_target_name_override"


@dataclasses.dataclass(frozen=True)
class ServerTls:
    """What a server's port presents, and whom it lets in.

    Args:
        cert_chain: bytes. PEM certificate chain, the server's own certificate first.
        private_key: bytes. PEM private key of that certificate (unencrypted).
        client_ca: bytes or None. PEM CA certificates; set, every client must present a
            certificate they signed (mutual TLS). None: any client may connect.
    """

    cert_chain: bytes
    private_key: bytes
    client_ca: bytes | None = None

    @classmethod
    def from_files(cls, cert, key, client_ca=None, flag_prefix: str = "--tls_") -> "ServerTls":
        """Read and check the PEM files; errors name `flag_prefix` + cert / key / client_ca."""
        cert_chain = _read(cert, flag_prefix + "cert", "CERTIFICATE")
        private_key = _read(key, flag_prefix + "key", "PRIVATE KEY")
        _check_pair((flag_prefix + "cert", cert), (flag_prefix + "key", key))
        ca = None if client_ca is None else _read_ca(client_ca, flag_prefix + "client_ca")
        return cls(cert_chain, private_key, ca)

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.private_key, self.cert_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )


@dataclasses.dataclass(frozen=True)
class ChannelTls:
    """What a channel trusts, and what it presents for mutual TLS.

    Args:
        root_ca: bytes or None. PEM CA certificates the server's certificate must chain to.
            None: the system's roots.
        cert_chain: bytes or None. PEM client certificate chain, for a server that asks for one.
        private_key: bytes or None. PEM private key of `cert_chain` (both or neither).
        server_name: str or None. The name the server's certificate must carry, when it is
            not the host of the address (an IP, or a name behind a load balancer).
    """

    root_ca: bytes | None = None
    cert_chain: bytes | None = None
    private_key: bytes | None = None
    server_name: str | None = None

    def __post_init__(self):
        if (self.cert_chain is None) != (self.private_key is None):
            raise ValueError(
                "ChannelTls needs both cert_chain and private_key (mutual TLS), or neither. "
                f"Received: cert_chain={_given(self.cert_chain)}, "
                f"private_key={_given(self.private_key)}."
            )

    @classmethod
    def from_files(
        cls,
        root_ca=None,
        cert=None,
        key=None,
        server_name: str | None = None,
        flag_prefix: str = "--tls_",
    ) -> "ChannelTls":
        """Read and check the PEM files; errors name `flag_prefix` + ca / cert / key."""
        if (cert is None) != (key is None):
            given, missing = ("cert", "key") if key is None else ("key", "cert")
            raise ValueError(
                f"{flag_prefix}{given} needs {flag_prefix}{missing}: a client certificate "
                "and its key come together."
            )
        ca = None if root_ca is None else _read_ca(root_ca, flag_prefix + "ca")
        cert_chain = private_key = None
        if cert is not None:
            cert_chain = _read(cert, flag_prefix + "cert", "CERTIFICATE")
            private_key = _read(key, flag_prefix + "key", "PRIVATE KEY")
            _check_pair((flag_prefix + "cert", cert), (flag_prefix + "key", key))
        return cls(ca, cert_chain, private_key, server_name or None)

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.root_ca,
            private_key=self.private_key,
            certificate_chain=self.cert_chain,
        )

    def channel(self, address: str, options=()) -> grpc.Channel:
        """A secure channel to `address` (`host:port`)."""
        options = list(options)
        if self.server_name:
            options.append((_TARGET_NAME, self.server_name))
        return grpc.secure_channel(address, self.credentials(), options=options)


def channel(address: str, tls: ChannelTls | None, options=()) -> grpc.Channel:
    """A channel to `address`: secure with `tls`, insecure when it is None.

    Args:
        address: str. `host:port`.
        tls: ChannelTls or None.
        options: channel options, e.g. `tfmtl.serving.grpc_server.MESSAGE_OPTIONS`.
    """
    if tls is None:
        return grpc.insecure_channel(address, options=list(options))
    return tls.channel(address, options)


def _read(path, flag: str, label: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"{flag} {path}: {e.strerror or e}.") from None
    if b"-----BEGIN " not in data or label.encode() not in data:
        raise ValueError(
            f"{flag} {path} is not a PEM {label.lower()} (no '-----BEGIN ...{label}-----' line)."
        )
    return data


def _read_ca(path, flag: str) -> bytes:
    data = _read(path, flag, "CERTIFICATE")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(
            cadata=data.decode("ascii", "replace")
        )
    except (ssl.SSLError, ValueError) as e:
        raise ValueError(f"{flag} {path} holds no readable CA certificate: {_reason(e)}.") from None
    return data


def _check_pair(cert: tuple, key: tuple) -> None:
    """The key file (flag, path) is readable, unencrypted, and belongs to the cert file's first
    certificate.
    """
    (cert_flag, cert_path), (key_flag, key_path) = cert, key
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(
            cert_path, key_path, password=lambda: b""
        )
    except ssl.SSLError as e:
        raise ValueError(
            f"{cert_flag} {cert_path} and {key_flag} {key_path} are not a readable certificate and "
            f"its unencrypted private key: {_reason(e)}."
        ) from None


def _reason(error: Exception) -> str:
    return getattr(error, "reason", None) or str(error)


def _given(value) -> str:
    return "None" if value is None else f"{len(value)} bytes"
