"""`tfmtl rank-server`: the gRPC ranking service, calling TF Serving or `tfmtl serve`.

    tfmtl rank-server --prediction_service localhost:8500 --port 8600
"""

from __future__ import annotations

from tfmtl.cli.errors import CommandError
from tfmtl.cli.serving_flags import (
    add_concurrency_flags,
    add_metrics_port,
    metrics_note,
    positive_float,
    positive_int,
    server_logging,
    wait_for_signal,
)

DEFAULT_MAX_CANDIDATES = 5_000  # as tfmtl.serving.ranking_service; the CLI must not import TensorFlow to parse


def register(sub) -> None:
    r = sub.add_parser("rank-server", help="the gRPC ranking service, calling a PredictionService")
    r.add_argument("--prediction_service", required=True, help="host:port of TF Serving or `tfmtl serve`")
    r.add_argument("--port", type=int, default=8600, help="gRPC port (0: pick a free one)")
    r.add_argument("--host", default="127.0.0.1", help="interface to bind (0.0.0.0: every interface)")
    r.add_argument("--metadata_dir", default=None,
                   help="parent of the model base paths, to read tfmtl.json when the PredictionService is TF Serving")
    r.add_argument("--max_candidates", type=positive_int, default=DEFAULT_MAX_CANDIDATES,
                   help=f"most candidates per Rank request; more: INVALID_ARGUMENT (default {DEFAULT_MAX_CANDIDATES:,})")
    r.add_argument("--predict_timeout", type=positive_float, default=30.0,
                   help="seconds for each Predict; a Rank request's own deadline cuts it shorter (default 30)")
    add_concurrency_flags(r)
    add_metrics_port(r)
    r.set_defaults(func=run_rank_server)


def run_rank_server(args) -> int:
    from tfmtl.serving import RankingServer

    server_logging()
    try:
        server = RankingServer(args.prediction_service, port=args.port, host=args.host,
                               metadata_dir=args.metadata_dir, timeout=args.predict_timeout,
                               max_candidates=args.max_candidates, max_workers=args.max_workers,
                               max_concurrent_requests=args.max_concurrent_requests,
                               metrics_port=args.metrics_port).start()
    except OSError as e:
        raise CommandError(str(e)) from None
    print(f"[tfmtl] RankingService on {server.address} -> PredictionService {args.prediction_service}"
          f"{metrics_note(server)} (Ctrl-C stops)", flush=True)
    wait_for_signal()
    server.stop()
    return 0
