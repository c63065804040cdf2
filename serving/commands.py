"""`tfmtl serve`, `tfmtl rank-server`, `tfmtl rank` and `tfmtl demo`.

    tfmtl serve --model_base_path models/ple --model_name ple --port 8500
    tfmtl rank-server --prediction_service localhost:8500 --port 8600
    tfmtl rank --ranking_service localhost:8600 --model_name ple --request query.json
    tfmtl demo
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from pathlib import Path


def register(sub) -> None:
    s = sub.add_parser("serve", help="serve BASE/NAME over TF Serving's gRPC protocol (PredictionService)")
    s.add_argument("--model_base_path", required=True, help="BASE/NAME: one directory per integer version")
    s.add_argument("--model_name", required=True, help="the name clients put in model_spec.name")
    s.add_argument("--port", type=int, default=8500, help="gRPC port (0: pick a free one)")
    s.add_argument("--host", default="0.0.0.0", help="interface to bind (127.0.0.1 for loopback only)")
    s.add_argument("--model_version_policy", default="latest", help="latest | latest:N | all | specific:1,2")
    s.add_argument("--file_system_poll_wait_seconds", type=float, default=1.0, help="0: never poll again")
    s.add_argument("--version_labels", default="", help="label=version pairs, e.g. stable=3,canary=4")
    s.add_argument("--max_batch_size", type=int, default=65_536, help="most rows per Predict request")
    s.set_defaults(func=run_serve)

    r = sub.add_parser("rank-server", help="the gRPC ranking service, calling a PredictionService")
    r.add_argument("--prediction_service", required=True, help="host:port of TF Serving or `tfmtl serve`")
    r.add_argument("--port", type=int, default=8600, help="gRPC port (0: pick a free one)")
    r.add_argument("--host", default="0.0.0.0")
    r.add_argument("--metadata_dir", default=None,
                   help="parent of the model base paths, to read tfmtl.json when the PredictionService is TF Serving")
    r.set_defaults(func=run_rank_server)

    c = sub.add_parser("rank", help="send one ranking request and print the ranked table")
    c.add_argument("--ranking_service", default="localhost:8600", help="host:port of `tfmtl rank-server`")
    c.add_argument("--model_name", required=True)
    c.add_argument("--request", required=True,
                   help='JSON (or @file.json): {"context": {...}, "candidates": {"id": {...}, ...}}')
    c.add_argument("--model_version", type=int, default=None)
    c.add_argument("--fusion", default=None, help='JSON, e.g. {"weights": {"finish": 2}, "length_feature": "video_len"}')
    c.add_argument("--top_k", type=int, default=0)
    c.add_argument("--facet_group", default="")
    c.add_argument("--json", action="store_true", help="print the response as JSON")
    c.set_defaults(func=run_rank)

    d = sub.add_parser("demo", help="train a small PLE, export it, serve it, rank a few queries, shut down")
    d.add_argument("--rows", type=int, default=8_000)
    d.add_argument("--epochs", type=int, default=4)
    d.add_argument("--queries", type=int, default=3)
    d.add_argument("--candidates", type=int, default=8)
    d.add_argument("--workdir", default=None, help="keep the model and export here (default: a temporary folder)")
    d.add_argument("--seed", type=int, default=0)
    d.set_defaults(func=run_demo)


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")


def _labels(text: str) -> dict:
    from tfmtl.cli import CommandError

    labels = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        label, _, version = pair.partition("=")
        if not label or not version.isdigit():
            raise CommandError(f"--version_labels entry {pair!r} is not label=version (e.g. stable=3).")
        labels[label] = int(version)
    return labels


def _wait_for_signal() -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()


def run_serve(args) -> int:
    from tfmtl.cli import CommandError
    from tfmtl.serving import serve

    _logging()
    base = Path(args.model_base_path)
    if not base.is_dir():
        raise CommandError(f"--model_base_path {base} is not a directory; expected BASE/NAME holding version folders.")
    try:
        server = serve(base, args.model_name, port=args.port, host=args.host, policy=args.model_version_policy,
                       poll_seconds=args.file_system_poll_wait_seconds, version_labels=_labels(args.version_labels),
                       max_batch_size=args.max_batch_size)
    except (ValueError, OSError) as e:
        raise CommandError(str(e)) from e
    print(f"[tfmtl] PredictionService for model '{args.model_name}' on {server.address} (Ctrl-C stops)", flush=True)
    _wait_for_signal()
    server.stop()
    return 0


def run_rank_server(args) -> int:
    from tfmtl.cli import CommandError
    from tfmtl.serving import RankingServer

    _logging()
    try:
        server = RankingServer(args.prediction_service, port=args.port, host=args.host,
                               metadata_dir=args.metadata_dir).start()
    except OSError as e:
        raise CommandError(str(e)) from e
    print(f"[tfmtl] RankingService on {server.address} -> PredictionService {args.prediction_service} "
          "(Ctrl-C stops)", flush=True)
    _wait_for_signal()
    server.stop()
    return 0


def _json_arg(text: str, flag: str):
    from tfmtl.cli import CommandError

    if text.startswith("@"):
        path = Path(text[1:])
        if not path.is_file():
            raise CommandError(f"{flag} file {path} does not exist.")
        text = path.read_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise CommandError(f"{flag} is not valid JSON ({e}).") from e


def run_rank(args) -> int:
    import grpc
    from google.protobuf import json_format

    from tfmtl.cli import CommandError
    from tfmtl.serving import RankingClient, format_ranking

    body = _json_arg(args.request, "--request")
    if not isinstance(body, dict) or "candidates" not in body:
        raise CommandError('--request must be a JSON object with "candidates" (and usually "context").')
    fusion = _json_arg(args.fusion, "--fusion") if args.fusion else body.get("fusion")
    with RankingClient(args.ranking_service) as client:
        try:
            response = client.rank(args.model_name, body.get("context", {}), body["candidates"],
                                   version=args.model_version, fusion=fusion,
                                   top_k=args.top_k or body.get("top_k", 0),
                                   facet_group=args.facet_group or body.get("facet_group", ""))
        except (TypeError, ValueError) as e:
            raise CommandError(str(e)) from e
        except grpc.RpcError as e:
            raise CommandError(f"{e.code().name}: {e.details()}") from e
    if args.json:
        print(json_format.MessageToJson(response, preserving_proto_field_name=True))
    else:
        print(f"model '{response.model_name}' version {response.model_version}")
        print(format_ranking(response))
    return 0


def run_demo(args) -> int:
    from tfmtl.serving.demo import run

    return run(rows=args.rows, epochs=args.epochs, queries=args.queries, candidates=args.candidates,
               workdir=args.workdir, seed=args.seed)
