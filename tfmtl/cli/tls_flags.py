"""The TLS flags of `tfmtl serve`, `tfmtl rank-server` and `tfmtl rank`, added and read here.

    tfmtl serve ... --tls_cert server.pem --tls_key server.key [--tls_client_ca clients-ca.pem]
    tfmtl rank-server ... --tls_cert ... --tls_key ... --prediction_service_tls_ca ca.pem \\
        [--prediction_service_tls_cert client.pem --prediction_service_tls_key client.key]
    tfmtl rank ... --tls_ca ca.pem [--tls_cert client.pem --tls_key client.key]

A server flag set is `--tls_*`; a channel's is `PREFIX` + `ca`, `cert`, `key`, `server_name`
(`--prediction_service_tls_` for the rank server's calls, `--tls_` for `tfmtl rank`). Any
channel flag turns TLS on for that channel (`--*_server_name` alone: the system's CAs). Files
are read and checked at startup (`tfmtl.serving.tls`); a problem is one line naming the flag
and the file.
"""

from __future__ import annotations

from tfmtl.cli.errors import CommandError

_CHANNEL_HELP = {
    "ca": "PEM CA certificate(s) {what}'s certificate must chain to; unset: the system's CAs",
    "cert": "PEM client certificate, for {what} started with --tls_client_ca (mutual TLS; with "
    "{prefix}key)",
    "key": "PEM private key of {prefix}cert",
    "server_name": "name {what}'s certificate must carry when it is not the address's host",
}


def add_server_tls_flags(parser) -> None:
    """`--tls_cert`, `--tls_key` (TLS on the server's port) and `--tls_client_ca` (mutual TLS)."""
    parser.add_argument(
        "--tls_cert",
        default=None,
        metavar="FILE",
        help="PEM certificate chain of this server (with --tls_key)",
    )
    parser.add_argument(
        "--tls_key", default=None, metavar="FILE", help="PEM private key of --tls_cert"
    )
    parser.add_argument(
        "--tls_client_ca",
        default=None,
        metavar="FILE",
        help="PEM CA certificate(s); set, clients must present a certificate they signed (mutual "
        "TLS)",
    )


def server_tls(args):
    """The `tfmtl.serving.tls.ServerTls` the `--tls_*` flags ask for, or None without them."""
    if args.tls_cert is None and args.tls_key is None:
        if args.tls_client_ca is not None:
            raise CommandError(
                "--tls_client_ca needs --tls_cert and --tls_key: mutual TLS is TLS that also "
                "checks the client."
            )
        return None
    if args.tls_cert is None or args.tls_key is None:
        given, missing = (
            ("--tls_cert", "--tls_key") if args.tls_key is None else ("--tls_key", "--tls_cert")
        )
        raise CommandError(
            f"{given} needs {missing}: the server's certificate and its private key come together."
        )
    from tfmtl.serving.tls import ServerTls

    try:
        return ServerTls.from_files(args.tls_cert, args.tls_key, args.tls_client_ca)
    except ValueError as e:
        raise CommandError(str(e)) from None


def add_channel_tls_flags(parser, prefix: str, what: str) -> None:
    """`PREFIX` + `ca`, `cert`, `key`, `server_name`: TLS for the channel to `what`.

    Args:
        parser: the sub-command's argparse parser.
        prefix: str. Flag prefix, e.g. "--prediction_service_tls_".
        what: str. The server the channel calls, for the help text ("the PredictionService").
    """
    for name, text in _CHANNEL_HELP.items():
        parser.add_argument(
            prefix + name,
            default=None,
            dest=_dest(prefix, name),
            metavar="NAME" if name == "server_name" else "FILE",
            help=text.format(what=what, prefix=prefix),
        )


def channel_tls(args, prefix: str):
    """The `tfmtl.serving.tls.ChannelTls` the `PREFIX*` flags ask for, or None without them."""
    values = {name: getattr(args, _dest(prefix, name)) for name in _CHANNEL_HELP}
    if all(v is None for v in values.values()):
        return None
    from tfmtl.serving.tls import ChannelTls

    try:
        return ChannelTls.from_files(
            values["ca"], values["cert"], values["key"], values["server_name"], flag_prefix=prefix
        )
    except ValueError as e:
        raise CommandError(str(e)) from None


def _dest(prefix: str, name: str) -> str:
    return (prefix + name).lstrip("-")
