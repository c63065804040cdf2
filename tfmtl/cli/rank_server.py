"""`tfmtl rank-server`: the gRPC ranking service, calling TF Serving or `tfmtl serve`.

    tfmtl rank-server --prediction_service localhost:8500 --port 8600
    tfmtl rank-server --prediction_service 10.0.0.1:8500,10.0.0.2:8500 --tls_cert ... --tls_key ...
    \
        --prediction_service_tls_ca ca.pem
"""

from __future__ import annotations

from tfmtl.cli.errors import CommandError
from tfmtl.cli.serving_flags import (
    add_concurrency_flags,
    add_metrics_port,
    positive_float,
    positive_int,
    serve_until_signal,
    server_logging,
)
from tfmtl.cli.tls_flags import add_channel_tls_flags, add_server_tls_flags, channel_tls, server_tls

DEFAULT_MAX_CANDIDATES = (
    5_000  # as tfmtl.serving.ranking_service; the CLI must not import TensorFlow to parse
)


def register(sub) -> None:
    r = sub.add_parser("rank-server", help="the gRPC ranking service, calling a PredictionService")
    r.add_argument(
        "--prediction_service",
        required=True,
        help="host:port of TF Serving or `tfmtl serve`; replicas as host1:port1,host2:port2",
    )
    r.add_argument("--port", type=int, default=8600, help="gRPC port (0: pick a free one)")
    r.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (0.0.0.0: every interface)"
    )
    r.add_argument(
        "--metadata_dir",
        default=None,
        help="parent of the model base paths, to read tfmtl.json when the PredictionService is TF "
        "Serving",
    )
    r.add_argument(
        "--max_candidates",
        type=positive_int,
        default=DEFAULT_MAX_CANDIDATES,
        help=f"most candidates per Rank request; more: INVALID_ARGUMENT (default "
        f"{DEFAULT_MAX_CANDIDATES:,})",
    )
    r.add_argument(
        "--predict_timeout",
        type=positive_float,
        default=30.0,
        help="seconds for each Predict; a Rank request's own deadline cuts it shorter (default 30)",
    )
    add_concurrency_flags(r)
    add_metrics_port(r)
    add_server_tls_flags(r)
    add_channel_tls_flags(r, "--prediction_service_tls_", "the PredictionService")
    r.set_defaults(func=run_rank_server)


def run_rank_server(args) -> int:
    from tfmtl.serving import RankingServer
    from tfmtl.serving.backends import split_addresses

    server_logging()
    tls, prediction_tls = server_tls(args), channel_tls(args, "--prediction_service_tls_")
    try:
        replicas = split_addresses(args.prediction_service, name="--prediction_service")
    except ValueError as e:
        raise CommandError(str(e)) from None

    def start():
        return RankingServer(
            replicas,
            port=args.port,
            host=args.host,
            metadata_dir=args.metadata_dir,
            timeout=args.predict_timeout,
            max_candidates=args.max_candidates,
            max_workers=args.max_workers,
            max_concurrent_requests=args.max_concurrent_requests,
            metrics_port=args.metrics_port,
            tls=tls,
            prediction_tls=prediction_tls,
        ).start()

    def banner(server) -> str:
        return f"RankingService on {server.address} -> PredictionService {args.prediction_service}"

    return serve_until_signal(start, banner)
