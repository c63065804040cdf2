"""`tfmtl rank-server`: the gRPC ranking service, calling TF Serving or `tfmtl serve`.

    tfmtl rank-server --prediction_service localhost:8500 --port 8600
    tfmtl rank-server --model_base_path models/ranker --model_name ranker --port 8600
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
    where = r.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--prediction_service",
        help="host:port of TF Serving or `tfmtl serve`; replicas as host1:port1,host2:port2",
    )
    where.add_argument(
        "--model_base_path",
        help="BASE/NAME: serve this model in the ranking server's own process (no gRPC hop to a "
        "PredictionService; with --model_name)",
    )
    r.add_argument("--model_name", help="with --model_base_path: the name requests rank with")
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

    server_logging()
    tls, prediction_tls = server_tls(args), channel_tls(args, "--prediction_service_tls_")
    replicas = _prediction_service(args)

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
        return (
            f"RankingService on {server.address} -> PredictionService {server.prediction_service}"
        )

    return serve_until_signal(start, banner)


def _prediction_service(args):
    """The replicas' addresses, or {name: ModelManager} for the in-process model."""
    from pathlib import Path

    from tfmtl.serving.backends import split_addresses

    if args.model_base_path is None:
        if args.model_name is not None:
            raise CommandError("--model_name goes with --model_base_path (the in-process model).")
        try:
            return split_addresses(args.prediction_service, name="--prediction_service")
        except ValueError as e:
            raise CommandError(str(e)) from None
    from tfmtl.serving.model_manager import ModelManager

    base = Path(args.model_base_path)
    if not base.is_dir():
        raise CommandError(
            f"--model_base_path {base} is not a directory; expected BASE/NAME holding version "
            "folders."
        )
    if not args.model_name:
        raise CommandError("--model_base_path needs --model_name: the name requests rank with.")
    return {args.model_name: ModelManager(base, args.model_name)}
