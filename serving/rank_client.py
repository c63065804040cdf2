"""RankingClient: build RankRequests from plain Python values and call a RankingService.

Example:

>>> import tempfile
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0")])
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("finish")]
>>> model = tfmtl.models.build_model("mmoe", spec, tasks, num_experts=2, expert_units=[4])
>>> version_dir = tfmtl.export.export_saved_model(model, tempfile.mkdtemp(), "ple")
>>> predictor = tfmtl.serving.serve(version_dir.parent, "ple", port=0)
>>> ranker = tfmtl.serving.RankingServer(predictor.address, port=0).start()
>>> client = RankingClient(ranker.address)
>>> candidates = {"v1": {"x0": 0.2}, "v2": {"x0": 1.5}}
>>> response = client.rank("ple", {}, candidates, fusion={"weights": {"finish": 2.0}}, top_k=10)
>>> sorted(c.id for c in response.candidates), sorted(response.fusion.weights.items())
(['v1', 'v2'], [('click', 1.0), ('finish', 2.0)])
>>> client.close(); ranker.stop(); predictor.stop()
"""

from __future__ import annotations

import numpy as np

from tfmtl.serving.protos import ranking_pb2, ranking_pb2_grpc
from tfmtl.serving.tls import ChannelTls, channel

_KINDS = {"product": ranking_pb2.Fusion.PRODUCT, "weighted_sum": ranking_pb2.Fusion.WEIGHTED_SUM}
_TRANSFORMS = {
    "none": ranking_pb2.Fusion.NONE,
    "log1p": ranking_pb2.Fusion.LOG1P,
    "sigmoid": ranking_pb2.Fusion.SIGMOID,
}


def feature_value(value) -> ranking_pb2.FeatureValue:
    """A Python/numpy scalar or list as a FeatureValue (float, int, str; lists for sequences)."""
    fv = ranking_pb2.FeatureValue()
    _set_value(fv, value)
    return fv


def _set_value(fv, value) -> None:
    if isinstance(value, (float, np.floating)):
        fv.float_value = float(value)
    elif isinstance(value, (str, bytes)):
        fv.string_value = value.decode() if isinstance(value, bytes) else value
    elif isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        fv.int64_value = int(value)
    elif isinstance(value, np.ndarray) and value.ndim == 0:
        _set_value(fv, value.item())
    elif isinstance(value, (list, tuple, np.ndarray)):
        _set_list(
            fv, list(np.asarray(value).tolist()) if isinstance(value, np.ndarray) else list(value)
        )
    else:
        raise TypeError(f"Cannot send a {type(value).__name__} ({value!r}) as a feature value.")


def _set_list(target, items: list) -> None:
    """Fill a FeatureValue or FeatureColumn's float_list / int64_list / string_list."""
    if all(isinstance(v, (str, bytes)) for v in items):
        target.string_list.value.extend(v.decode() if isinstance(v, bytes) else v for v in items)
    elif all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
        target.int64_list.value.extend(int(v) for v in items)
    else:
        target.float_list.value.extend(float(v) for v in items)


def rank_request(
    model_name: str,
    context: dict,
    candidates=None,
    version: int | None = None,
    fusion: dict | None = None,
    top_k: int = 0,
    facet_group: str = "",
    signature_name: str = "",
    columns: dict | None = None,
    ids=None,
    fusion_variant: str = "",
    traffic_key: str = "",
) -> ranking_pb2.RankRequest:
    """A RankRequest.

    Args:
        candidates: dict id -> feature dict, or a list of feature dicts (ids "0", "1", ...).
        columns: instead of `candidates`, feature name -> `[N]` (or `[N, max_len]`) array:
            sent as `candidate_columns`, the fast path for large requests; `ids`: their N ids.
        fusion: optional dict with any of `kind`, `weights`, `replace_weights`,
            `length_feature` ("" for no length factor), `length_transform`; applied on top
            of the fusion variant.
        fusion_variant: a named variant of the model's fusion ("": by `traffic_key`, else
            "default").
        traffic_key: a stable key (a user id) the server hashes onto the model's variant shares.
    """
    request = ranking_pb2.RankRequest(
        model_name=model_name,
        top_k=int(top_k),
        facet_group=facet_group,
        signature_name=signature_name,
        fusion_variant=fusion_variant,
        traffic_key=traffic_key,
    )
    if version is not None:
        request.model_version.value = int(version)
    for name, value in (context or {}).items():
        _set_value(request.context_features[name], value)
    if columns is not None:
        n = len(next(iter(columns.values()))) if columns else 0
        request.candidate_columns.ids.extend(str(i) for i in (ids if ids is not None else range(n)))
        for name, values in columns.items():
            values = np.asarray(values)
            column = request.candidate_columns.features[name]
            if values.dtype.kind == "f":
                column.float_list.value.extend(values.astype(np.float32).reshape(-1).tolist())
            elif values.dtype.kind in "iu":
                column.int64_list.value.extend(values.astype(np.int64).reshape(-1).tolist())
            else:
                _set_list(column, values.reshape(-1).tolist())
    items = candidates.items() if isinstance(candidates, dict) else enumerate(candidates or ())
    for cid, features in items:
        c = request.candidates.add(id=str(cid))
        for name, value in features.items():
            _set_value(c.features[name], value)
    if fusion:
        _fill_fusion(request.fusion, fusion)
    return request


def _fill_fusion(proto, fusion: dict) -> None:
    unknown = sorted(
        set(fusion) - {"kind", "weights", "replace_weights", "length_feature", "length_transform"}
    )
    if unknown:
        raise ValueError(f"fusion has unknown key(s) {unknown}.")
    if fusion.get("kind"):
        if fusion["kind"] not in _KINDS:
            raise ValueError(
                f"fusion kind must be one of {sorted(_KINDS)}. Received: {fusion['kind']!r}"
            )
        proto.kind = _KINDS[fusion["kind"]]
    proto.weights.update({k: float(v) for k, v in (fusion.get("weights") or {}).items()})
    proto.replace_weights = bool(fusion.get("replace_weights", False))
    if "length_feature" in fusion:
        proto.length_feature.value = fusion["length_feature"] or ""
    if fusion.get("length_transform"):
        if fusion["length_transform"] not in _TRANSFORMS:
            raise ValueError(
                f"fusion length_transform must be one of {sorted(_TRANSFORMS)}. Received: "
                f"{fusion['length_transform']!r}"
            )
        proto.length_transform = _TRANSFORMS[fusion["length_transform"]]


class RankingClient:
    """A RankingService client.

    Args:
        address: str. `host:port` of the RankingService.
        timeout: float. Seconds each Rank call waits.
        tls: `tfmtl.serving.tls.ChannelTls` or None. TLS to a server started with `--tls_cert`
            (with a client certificate for `--tls_client_ca`). None: plaintext.
    """

    def __init__(self, address: str, timeout: float = 30.0, tls: ChannelTls | None = None):
        self.address, self.timeout = address, timeout
        self.channel = channel(
            address,
            tls,
            options=[
                ("grpc.max_send_message_length", 256 << 20),
                ("grpc.max_receive_message_length", 256 << 20),
            ],
        )
        self.stub = ranking_pb2_grpc.RankingServiceStub(self.channel)

    def rank(
        self, model_name: str, context: dict, candidates=None, **kwargs
    ) -> ranking_pb2.RankResponse:
        """Rank `candidates`; see `rank_request` for the arguments."""
        return self.stub.Rank(
            rank_request(model_name, context, candidates, **kwargs), timeout=self.timeout
        )

    def close(self) -> None:
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def format_ranking(response, limit: int | None = None) -> str:
    """A readable table: rank, id, fused score, then every task's score."""
    tasks = sorted({t for c in response.candidates for t in c.task_scores})
    header = f"{'rank':>4}  {'id':<12} {'score':>10}  " + "  ".join(f"{t:>10}" for t in tasks)
    lines = [header, "-" * len(header)]
    for r, c in enumerate(response.candidates[:limit] if limit else response.candidates, start=1):
        lines.append(
            f"{r:>4}  {c.id:<12} {c.score:>10.4f}  "
            + "  ".join(f"{c.task_scores[t]:>10.4f}" for t in tasks)
        )
    return "\n".join(lines)
