"""`tfmtl serve`: the embedded PredictionService over BASE/NAME, with tensorflow_model_server's
flags.

tfmtl serve --model_base_path models/ranker --model_name ranker --port 8500
tfmtl serve ... --tls_cert server.pem --tls_key server.key [--tls_client_ca ca.pem]
"""

from __future__ import annotations

from pathlib import Path

from tfmtl.cli.batching_flags import add_batching_flags, batching_options
from tfmtl.cli.errors import CommandError
from tfmtl.cli.serving_flags import (
    add_concurrency_flags,
    add_metrics_port,
    positive_int,
    serve_until_signal,
    server_logging,
    version_labels,
)
from tfmtl.cli.tls_flags import add_server_tls_flags, server_tls

DEFAULT_MAX_BATCH_SIZE = (
    10_000  # as tfmtl.serving.prediction_service; the CLI must not import TensorFlow to parse
)


def register(sub) -> None:
    s = sub.add_parser(
        "serve", help="serve BASE/NAME over TF Serving's gRPC protocol (PredictionService)"
    )
    s.add_argument(
        "--model_base_path", required=True, help="BASE/NAME: one directory per integer version"
    )
    s.add_argument("--model_name", required=True, help="the name clients put in model_spec.name")
    s.add_argument("--port", type=int, default=8500, help="gRPC port (0: pick a free one)")
    s.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (0.0.0.0: every interface)"
    )
    s.add_argument(
        "--model_version_policy", default="latest", help="latest | latest:N | all | specific:1,2"
    )
    s.add_argument(
        "--file_system_poll_wait_seconds", type=float, default=1.0, help="0: never poll again"
    )
    s.add_argument(
        "--version_labels", default="", help="label=version pairs, e.g. stable=3,canary=4"
    )
    s.add_argument(
        "--max_batch_size",
        type=positive_int,
        default=DEFAULT_MAX_BATCH_SIZE,
        help=f"most rows per Predict request; more: INVALID_ARGUMENT (default "
        f"{DEFAULT_MAX_BATCH_SIZE:,})",
    )
    s.add_argument(
        "--allow_non_finite",
        action="store_true",
        help="pass NaN/Inf inputs and outputs through (default: INVALID_ARGUMENT naming input and "
        "row)",
    )
    add_concurrency_flags(s)
    add_metrics_port(s)
    add_batching_flags(s)
    add_server_tls_flags(s)
    s.set_defaults(func=run_serve)


def run_serve(args) -> int:
    from tfmtl.serving import serve

    server_logging()
    base = Path(args.model_base_path)
    if not base.is_dir():
        raise CommandError(
            f"--model_base_path {base} is not a directory; expected BASE/NAME holding version "
            "folders."
        )
    batching = batching_options(args)
    tls = server_tls(args)

    def start():
        return serve(
            base,
            args.model_name,
            port=args.port,
            host=args.host,
            policy=args.model_version_policy,
            poll_seconds=args.file_system_poll_wait_seconds,
            version_labels=version_labels(args.version_labels),
            max_batch_size=args.max_batch_size,
            reject_non_finite=not args.allow_non_finite,
            max_workers=args.max_workers,
            max_concurrent_requests=args.max_concurrent_requests,
            metrics_port=args.metrics_port,
            batching=batching,
            tls=tls,
        )

    def banner(server) -> str:
        return f"PredictionService for model '{args.model_name}' on {server.address}"

    return serve_until_signal(start, banner, errors=(ValueError, OSError))
