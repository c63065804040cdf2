"""`tfmtl rank`: one ranking request to a ranking service, printed as a ranked table.

tfmtl rank --ranking_service localhost:8600 --model_name ranker --request @query.json
tfmtl rank --ranking_service localhost:8600 --model_name ranker --example models/ranker
tfmtl rank --ranking_service localhost:8600 --model_name ranker --request @query.json \
    --fusion_variant searched
tfmtl rank --ranking_service localhost:8600 ... --tls_ca ca.pem \
    [--tls_cert client.pem --tls_key client.key]
"""

from __future__ import annotations

from tfmtl.cli.errors import CommandError, json_argument
from tfmtl.cli.tls_flags import add_channel_tls_flags, channel_tls


def register(sub) -> None:
    c = sub.add_parser("rank", help="send one ranking request and print the ranked table")
    c.add_argument(
        "--ranking_service", default="localhost:8600", help="host:port of `tfmtl rank-server`"
    )
    c.add_argument("--model_name", required=True)
    given = c.add_mutually_exclusive_group(required=True)
    given.add_argument(
        "--request",
        help='JSON (or @file.json): {"context": {...}, "candidates": {"id": {...}, ...}}',
    )
    given.add_argument(
        "--example",
        metavar="BASE/NAME",
        help="send a valid request generated from this export's feature spec (see `tfmtl inspect "
        "--request`)",
    )
    c.add_argument("--model_version", type=int, default=None)
    c.add_argument(
        "--fusion",
        default=None,
        help='JSON, e.g. {"weights": {"finish": 2}, "length_feature": "video_len"}',
    )
    c.add_argument("--top_k", type=int, default=0)
    c.add_argument("--facet_group", default="")
    c.add_argument(
        "--fusion_variant",
        default="",
        help='a fusion variant of the model ("default": its own fusion)',
    )
    c.add_argument(
        "--traffic_key",
        default="",
        help="a stable key (a user id) hashed onto the model's variant shares",
    )
    c.add_argument("--json", action="store_true", help="print the response as JSON")
    add_channel_tls_flags(c, "--tls_", "the RankingService")
    c.set_defaults(func=run_rank)


def run_rank(args) -> int:
    import grpc
    from google.protobuf import json_format

    from tfmtl.serving import RankingClient, format_ranking

    body = (
        example_request(args.example) if args.example else json_argument(args.request, "--request")
    )
    if not isinstance(body, dict) or "candidates" not in body:
        raise CommandError(
            '--request must be a JSON object with "candidates" (and usually "context").'
        )
    fusion = json_argument(args.fusion, "--fusion") if args.fusion else body.get("fusion")
    with RankingClient(args.ranking_service, tls=channel_tls(args, "--tls_")) as client:
        try:
            response = client.rank(
                args.model_name,
                body.get("context", {}),
                body["candidates"],
                version=args.model_version,
                fusion=fusion,
                top_k=args.top_k or body.get("top_k", 0),
                facet_group=args.facet_group or body.get("facet_group", ""),
                fusion_variant=args.fusion_variant or body.get("fusion_variant", ""),
                traffic_key=args.traffic_key or body.get("traffic_key", ""),
            )
        except (TypeError, ValueError) as e:
            raise CommandError(str(e)) from None
        except grpc.RpcError as e:
            raise CommandError(f"{e.code().name}: {e.details()}") from None
    if args.json:
        print(json_format.MessageToJson(response, preserving_proto_field_name=True))
    else:
        print(f"model '{response.model_name}' version {response.model_version}")
        print(format_ranking(response))
    return 0


def example_request(export: str, candidates: int = 5) -> dict:
    """A ranking request body valid for the export at `export` (BASE/NAME or BASE/NAME/VERSION)."""
    from tfmtl.export.examples import example_request as build

    try:
        return build(export, candidates=candidates)
    except (OSError, ValueError) as e:
        raise CommandError(f"--example {export}: {e}") from None
