"""The ranking service: RankRequest -> ONE Predict -> fused, sorted RankResponse.

For each request it looks up the served model version (`ModelInfoCache`), builds one
Predict batch (context features broadcast, all candidates stacked: `build_batch`), pinned
to that version so features, scores and fusion all come from one export, asks only the
heads it needs, fuses the task scores (`Fusion`: PLE eq 1 or a weighted sum, the model's
default, or the named or traffic-split variant (`tfmtl.fusion_variants`), merged with the
request's override) and sorts. It is stateless apart from that
cache and talks to any `tensorflow.serving.PredictionService` address: TF Serving or
`tfmtl serve`.

Facet routing (`tfmtl.contract.group_heads`): a request's `facet_group` selects that
group's heads (tfmtl.json `facet_groups`), and only they are requested and fused (the
default fusion restricted to them); an unknown group is NOT_FOUND. A request without a
group gets the model's `default_facet_group`, else every head; but a model whose heads are
facet leaves (MFH, H-MTL: `facet_group_required`) refuses it with INVALID_ARGUMENT naming
`facet_group` and the groups. The response echoes the group that answered.

Example:

>>> import tempfile
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0")])
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("finish")]
>>> model = tfmtl.models.build_model("mmoe", spec, tasks, num_experts=2, expert_units=[4])
>>> version_dir = tfmtl.export.export_saved_model(model, tempfile.mkdtemp(), "ple")
>>> predictor = tfmtl.serving.serve(version_dir.parent, "ple", port=0)
>>> server = RankingServer(predictor.address, port=0).start()
>>> channel = grpc.insecure_channel(server.address)
>>> request = tfmtl.serving.rank_request("ple", {}, {"a": {"x0": 1.0}, "b": {"x0": 2.0}})
>>> response = ranking_pb2_grpc.RankingServiceStub(channel).Rank(request)  # or RankingClient
>>> response.model_version, sorted(c.id for c in response.candidates)
(1, ['a', 'b'])
>>> channel.close(); server.stop(); predictor.stop()
"""

from __future__ import annotations

import logging

import grpc
import numpy as np
from tensorflow_serving.apis import predict_pb2

from tfmtl import contract, fusion_variants
from tfmtl.serving.backends import PredictionBackends, split_addresses
from tfmtl.serving.batch import build_batch
from tfmtl.serving.errors import ServingError, guarded, shown
from tfmtl.serving.grpc_server import GrpcServer
from tfmtl.serving.local_predictions import LocalPredictions
from tfmtl.serving.model_info import ModelInfoCache, from_rpc_error
from tfmtl.serving.protos import ranking_pb2, ranking_pb2_grpc
from tfmtl.serving.tensors import to_ndarray
from tfmtl.serving.tls import ChannelTls, ServerTls

log = logging.getLogger("tfmtl.serving")

DEFAULT_MAX_CANDIDATES = 5_000
_KIND = {ranking_pb2.Fusion.PRODUCT: "product", ranking_pb2.Fusion.WEIGHTED_SUM: "weighted_sum"}
_TRANSFORM = {
    ranking_pb2.Fusion.NONE: "none",
    ranking_pb2.Fusion.LOG1P: "log1p",
    ranking_pb2.Fusion.SIGMOID: "sigmoid",
}


class RankingServicer(ranking_pb2_grpc.RankingServiceServicer):
    """Implements `tfmtl.serving.RankingService.Rank` over a PredictionService stub."""

    def __init__(
        self,
        prediction_stub,
        info_cache: ModelInfoCache,
        timeout: float = 30.0,
        max_candidates: int = DEFAULT_MAX_CANDIDATES,
    ):
        self.stub, self.infos, self.timeout = prediction_stub, info_cache, float(timeout)
        self.max_candidates = int(max_candidates)

    @guarded
    def Rank(self, request, context):
        return self.rank(request, deadline=context.time_remaining())

    def rank(self, request, deadline: float | None = None) -> ranking_pb2.RankResponse:
        """Rank `request`; `deadline`: seconds the caller still waits (None: no deadline)."""
        check_request(request, self.max_candidates)
        version = request.model_version.value if request.HasField("model_version") else None
        signature = request.signature_name or "serving_default"
        timeout = self._timeout(deadline)
        info = self.infos.get(request.model_name, version, signature)
        try:
            return self._rank(request, info, timeout)
        except ServingError as e:
            if version is not None or e.code != grpc.StatusCode.NOT_FOUND:
                raise
        # The latest version we looked up was unloaded meanwhile: look again, once.
        self.infos.forget_latest(request.model_name, signature)
        return self._rank(request, self.infos.get(request.model_name, None, signature), timeout)

    def _timeout(self, deadline: float | None) -> float:
        """Seconds for the Predict: the configured timeout, cut to the caller's deadline."""
        if deadline is None or deadline >= self.timeout:
            return self.timeout
        if deadline <= 0.001:
            raise ServingError(
                grpc.StatusCode.DEADLINE_EXCEEDED,
                "The Rank request's deadline passed before its Predict.",
            )
        return deadline

    def _rank(self, request, info, timeout: float) -> ranking_pb2.RankResponse:
        group = request.facet_group or (info.metadata.get("default_facet_group") or "")
        heads = _heads(info, group)
        variant = _variant(info, request)
        fusion = _fusion(info, request, heads, group, variant)
        extra = [fusion.length_feature] if fusion.length_feature else []
        batch = build_batch(info, request, extra=extra)
        scores = self._predict(info, batch.inputs, heads, timeout)
        length = batch.raw.get(fusion.length_feature) if fusion.length_feature else None
        fused = fusion.score(scores, length)
        order = np.argsort(-np.nan_to_num(fused, nan=-np.inf), kind="stable")
        if request.top_k:
            order = order[: request.top_k]
        response = ranking_pb2.RankResponse(
            model_name=info.name,
            model_version=info.version,
            facet_group=group,
            fusion_variant=variant,
        )
        _fill_fusion(response.fusion, fusion)
        columns = {k: v.tolist() for k, v in scores.items()}
        fused_list = fused.tolist()
        for i in order.tolist():
            c = response.candidates.add(id=batch.ids[i], score=fused_list[i], request_index=i)
            for task, values in columns.items():
                c.task_scores[task] = values[i]
        return response

    def _predict(self, info, inputs: dict, heads: list[str], timeout: float) -> dict:
        predict = predict_pb2.PredictRequest()
        predict.model_spec.name = info.name
        predict.model_spec.version.value = info.version
        predict.model_spec.signature_name = info.signature_name
        for key, proto in inputs.items():
            predict.inputs[key].CopyFrom(proto)
        predict.output_filter.extend(heads)
        try:
            response = self.stub.Predict(predict, timeout=timeout)
        except grpc.RpcError as e:
            raise from_rpc_error(e, "Predict") from e
        return {k: to_ndarray(response.outputs[k], k).reshape(-1) for k in heads}


def check_request(request, max_candidates: int = DEFAULT_MAX_CANDIDATES) -> None:
    """The request's own fields, before any model is asked: name, candidates, ids, top_k, fusion."""
    if not request.model_name:
        raise ServingError.invalid("model_name is empty; name the model to rank with.")
    columns = len(request.candidate_columns.ids) > 0
    n = len(request.candidate_columns.ids) if columns else len(request.candidates)
    field = "candidate_columns.ids" if columns else "candidates"
    if not n:
        raise ServingError.invalid(
            "candidates is empty (and so is candidate_columns); send at least one candidate."
        )
    if n > max_candidates:
        raise ServingError.invalid(
            f"{field} has {n:,} entries, over this server's limit of {max_candidates:,}; "
            "split the request."
        )
    if request.top_k < 0:
        raise ServingError.invalid(
            f"top_k must be >= 0 (0 returns every candidate). Received: {request.top_k}."
        )
    ids = list(request.candidate_columns.ids) if columns else [c.id for c in request.candidates]
    where = "candidate_columns.ids[{}]" if columns else "candidates[{}].id"
    seen = {}
    for i, given in enumerate(ids):
        resolved = given or str(i)
        if resolved in seen:
            j = seen[resolved]
            said = (
                f"{where.format(i)} is empty and stands for its position {shown(resolved)}"
                if not given
                else f"{where.format(i)} {shown(given)}"
            )
            raise ServingError.invalid(
                f"{said}, which {where.format(j)} already uses; ids must be unique."
            )
        seen[resolved] = i
    if request.HasField("fusion"):
        _check_fusion(request.fusion)


def _check_fusion(fusion) -> None:
    """The request's `fusion` override: defined enums and finite weights."""
    if fusion.kind not in _KIND and fusion.kind != ranking_pb2.Fusion.KIND_UNSPECIFIED:
        raise ServingError.invalid(
            f"fusion.kind {fusion.kind} is not a Fusion.Kind; use PRODUCT or "
            "WEIGHTED_SUM (or leave it unset for the model's default)."
        )
    transform = fusion.length_transform
    if transform not in _TRANSFORM and transform != ranking_pb2.Fusion.LENGTH_TRANSFORM_UNSPECIFIED:
        raise ServingError.invalid(
            f"fusion.length_transform {transform} is not a Fusion.LengthTransform; use "
            "NONE, LOG1P or SIGMOID (or leave it unset for the model's default)."
        )
    for task, weight in fusion.weights.items():
        if not np.isfinite(weight):
            raise ServingError.invalid(
                f"fusion.weights[{shown(task)}] is {weight}; weights must be finite."
            )


def _heads(info, facet_group: str) -> list[str]:
    """The heads to request and fuse (`tfmtl.contract.group_heads`): the group's, or every head."""
    try:
        return info.group_heads(facet_group)
    except contract.UnknownFacetGroup as e:
        raise ServingError.not_found(str(e)) from None
    except contract.ContractError as e:
        raise ServingError.invalid(str(e)) from None


def _variant(info, request) -> str:
    """The fusion variant the request names, else the one its traffic_key hashes to, else
    "default"."""
    if request.fusion_variant:
        if request.fusion_variant not in info.variants:
            raise ServingError.not_found(
                f"fusion_variant {shown(request.fusion_variant)} is not a fusion variant of model "
                f"'{info.name}' "
                f"version {info.version}. Variants: {sorted(info.variants)}."
            )
        return request.fusion_variant
    if request.traffic_key and info.traffic:
        return fusion_variants.pick(info.traffic, info.name, request.traffic_key)
    return fusion_variants.DEFAULT


def _fusion(info, request, heads: list[str], group: str, variant: str = fusion_variants.DEFAULT):
    """Fusion `variant` of the model, restricted to `heads`, with the request's override."""
    default = info.fusion_of(heads, variant)
    if not request.HasField("fusion"):
        return default
    f = request.fusion
    for task in f.weights:
        if task not in heads:
            where = f" in facet_group {shown(group)}" if group else ""
            raise ServingError.invalid(
                f"fusion.weights[{shown(task)}] names no task{where} of model '{info.name}'. "
                f"Tasks: {heads}."
            )
    length = f.length_feature.value if f.HasField("length_feature") else None
    if length and length not in info.inputs and not _given(request, length):
        raise ServingError.invalid(
            f"fusion.length_feature {shown(length)} is neither a model input nor a feature of the "
            "request."
        )
    if (
        length
        and length in info.inputs
        and (info.inputs[length][0].kind not in "fi" or info.inputs[length][1])
    ):
        raise ServingError.invalid(
            f"fusion.length_feature {shown(length)} is a "
            f"{'sequence' if info.inputs[length][1] else 'string'} "
            "input of the model; the length factor needs a numeric scalar feature."
        )
    return default.merged(
        kind=_KIND.get(f.kind),
        weights=dict(f.weights),
        replace_weights=f.replace_weights,
        length_feature=length,
        length_transform=_TRANSFORM.get(f.length_transform),
    )


def _given(request, name: str) -> bool:
    if name in request.context_features or name in request.candidate_columns.features:
        return True
    return bool(request.candidates) and name in request.candidates[0].features


def _fill_fusion(proto, fusion) -> None:
    proto.kind = {v: k for k, v in _KIND.items()}[fusion.kind]
    proto.weights.update(fusion.weights)
    proto.length_feature.value = fusion.length_feature or ""
    proto.length_transform = {v: k for k, v in _TRANSFORM.items()}[fusion.length_transform]


class RankingServer(GrpcServer):
    """The RankingService on a gRPC port, calling the PredictionService at `prediction_service`.

    Args:
        prediction_service: str or list of str. `host:port` of a PredictionService (TF Serving or
            `tfmtl serve`); several replicas as `"a:1,b:2"` or a list (`tfmtl.serving.backends`).
            Or a dict of model name -> `ModelManager`: the models are served in this process,
            with no gRPC hop to them (`tfmtl.serving.local_predictions`).
        port, host, max_workers, max_concurrent_requests: as `tfmtl.serving.grpc_server.GrpcServer`.
        metadata_dir: str or None. Parent of the model base paths, to read tfmtl.json from
            disk when the PredictionService is TF Serving.
        timeout: float. Seconds for each Predict when the Rank request has no deadline of its own.
        info_ttl_seconds: float. How long the answer to "which version is served" is trusted.
        max_candidates: int. Most candidates per Rank request (more: INVALID_ARGUMENT at once).
        metrics_port, tls: as `tfmtl.serving.grpc_server.GrpcServer` (`tls`: this server's port).
        prediction_tls: `tfmtl.serving.tls.ChannelTls` or None. TLS to the PredictionService
            replicas (None: plaintext).

    A failed PredictionService call is counted (`tfmtl_backend_errors_total`) and logged
    (`tfmtl.serving.metrics.log_backend_failure`), then passed on with its status; with several
    replicas, an UNAVAILABLE one is first retried on the next (`tfmtl.serving.backends`).
    """

    kind = "RankingService"
    metric_labels = ("fusion_variant",)

    def __init__(
        self,
        prediction_service: str | list,
        port: int = 0,
        host: str = "127.0.0.1",
        metadata_dir=None,
        max_workers: int = 16,
        timeout: float = 30.0,
        info_ttl_seconds: float = 2.0,
        max_concurrent_requests: int | None = None,
        max_candidates: int = DEFAULT_MAX_CANDIDATES,
        metrics_port: int | None = None,
        tls: ServerTls | None = None,
        prediction_tls: ChannelTls | None = None,
    ):
        super().__init__(
            port, host, max_workers, max_concurrent_requests, metrics_port=metrics_port, tls=tls
        )
        self.local = dict(prediction_service) if isinstance(prediction_service, dict) else None
        if self.local is not None:
            self.prediction_services = []
            self.prediction_service = f"model(s) {', '.join(sorted(self.local))} in process"
        else:
            self.prediction_services = split_addresses(prediction_service)
            self.prediction_service = ",".join(self.prediction_services)
        self.metadata_dir, self.timeout = metadata_dir, timeout
        self.info_ttl_seconds, self.max_candidates = info_ttl_seconds, max_candidates
        self.prediction_tls, self.backends = prediction_tls, None

    def on_start(self) -> None:
        if self.local is not None:
            self.backends = LocalPredictions(self.local).start()
            return
        self.backends = PredictionBackends(
            self.prediction_services, tls=self.prediction_tls, metrics=self.metrics
        )

    def add_services(self, server) -> None:
        stub = self.backends
        infos = ModelInfoCache(
            stub, self.metadata_dir, ttl_seconds=self.info_ttl_seconds, timeout=self.timeout
        )
        ranking_pb2_grpc.add_RankingServiceServicer_to_server(
            RankingServicer(stub, infos, self.timeout, self.max_candidates), server
        )

    def start(self) -> "RankingServer":
        super().start()
        log.info(
            "RankingService on %s; PredictionService: %s.",
            self.address,
            self.prediction_service,
        )
        return self

    def on_stop(self) -> None:
        if self.backends is not None:
            self.backends.close()
            self.backends = None
