"""The embedded PredictionService: TF Serving's gRPC protocol over a model base path.

`tensorflow.serving.PredictionService` (Predict, GetModelMetadata) and
`tensorflow.serving.ModelService` (GetModelStatus), implemented on the stubs generated in
`tensorflow_serving.apis`, so any TF Serving client talks to it unchanged and the ranking
service talks to it or to a real `tensorflow_model_server` alike.

Beyond TF Serving: GetModelMetadata also answers `metadata_field: "tfmtl"` with the
version's `tfmtl.json` (tasks, features, default fusion) packed as a `StringValue`.

Example (a client written as TF Serving's examples write theirs):

>>> import tempfile
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0")])
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("finish")]
>>> model = tfmtl.models.build_model("mmoe", spec, tasks, num_experts=2, expert_units=[4])
>>> version_dir = tfmtl.export.export_saved_model(model, tempfile.mkdtemp(), "ple")
>>> import grpc, tensorflow as tf
>>> from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc
>>> server = PredictionServer({"ple": ModelManager(version_dir.parent, "ple")}, port=0).start()
>>> channel = grpc.insecure_channel(server.address)
>>> stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
>>> request = predict_pb2.PredictRequest()
>>> request.model_spec.name = "ple"
>>> request.inputs["x0"].CopyFrom(tf.make_tensor_proto(np.zeros(2, np.float32)))
>>> sorted(stub.Predict(request, timeout=5.0).outputs)
['click', 'finish']
>>> channel.close(); server.stop()
"""

from __future__ import annotations

import json
import logging

import grpc
from google.protobuf import any_pb2, wrappers_pb2
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2,  # noqa: F401 - registers the service descriptor that reflection serves
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2,  # noqa: F401 - registers the service descriptor that reflection serves
    prediction_service_pb2_grpc,
)

from tfmtl.serving.batching import Batcher, BatchingOptions
from tfmtl.serving.errors import ServingError, guarded, shown
from tfmtl.serving.grpc_server import GrpcServer
from tfmtl.serving.model_manager import ModelManager
from tfmtl.serving.tensors import to_tensor_proto
from tfmtl.serving.tls import ServerTls
from tfmtl.serving.validation import (
    check_finite_inputs,
    check_finite_outputs,
    check_inputs,
    check_output_filter,
)

log = logging.getLogger("tfmtl.serving")

DEFAULT_MAX_BATCH_SIZE = 10_000
METADATA_FIELDS = ("signature_def", "tfmtl")
_STATES = get_model_status_pb2.ModelVersionStatus.State


class _Models:
    def __init__(
        self, managers: dict[str, ModelManager], max_batch_size: int, reject_non_finite: bool = True
    ):
        self.managers, self.max_batch_size, self.reject_non_finite = (
            managers,
            max_batch_size,
            reject_non_finite,
        )

    def manager(self, model_spec) -> ModelManager:
        if not model_spec.name:
            raise ServingError.invalid("model_spec.name is empty; name the model to call.")
        if model_spec.name not in self.managers:
            raise ServingError.not_found(
                f"Model {shown(model_spec.name)} (model_spec.name) is not served here. Models: "
                f"{sorted(self.managers)}."
            )
        return self.managers[model_spec.name]

    def servable(self, model_spec):
        manager = self.manager(model_spec)
        choice = model_spec.WhichOneof("version_choice")
        if choice == "version":
            return manager.resolve(version=int(model_spec.version.value))
        if choice == "version_label":
            return manager.resolve(label=model_spec.version_label)
        return manager.resolve()


def _not_served(method: str):
    """An RPC answered UNIMPLEMENTED with a message that says what to call instead."""

    def refuse(self, request, context):
        context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            f"{method} is not served: tfmtl models answer Predict (signature 'serving_default', "
            "every "
            "task head) and GetModelMetadata.",
        )

    refuse.__name__ = method
    return refuse


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """Predict and GetModelMetadata over `ModelManager`s (Classify/Regress/MultiInference:
    UNIMPLEMENTED).
    """

    Classify, Regress, MultiInference = (
        _not_served(m) for m in ("Classify", "Regress", "MultiInference")
    )

    def __init__(self, models: _Models, batcher: Batcher | None = None):
        self.models = models
        self.batcher = batcher

    @guarded
    def Predict(self, request, context):
        servable = self.models.servable(request.model_spec)
        signature = servable.signature(request.model_spec.signature_name)
        arrays = check_inputs(signature, request.inputs, self.models.max_batch_size)
        if self.models.reject_non_finite:
            check_finite_inputs(arrays, signature.where)
        outputs = check_output_filter(signature, request.output_filter)
        if self.batcher is not None:
            result = self.batcher.run(servable, signature.name, arrays, outputs)
        else:
            result = servable.run(signature.name, arrays, outputs)
        if self.models.reject_non_finite:
            check_finite_outputs(result, arrays, signature.where)
        response = predict_pb2.PredictResponse()
        _fill_spec(response.model_spec, servable, signature.name)
        for key, value in result.items():
            response.outputs[key].CopyFrom(to_tensor_proto(value))
        return response

    @guarded
    def GetModelMetadata(self, request, context):
        if not request.metadata_field:
            raise ServingError.invalid(
                f"metadata_field is empty; ask for one of {list(METADATA_FIELDS)}."
            )
        unknown = [f for f in request.metadata_field if f not in METADATA_FIELDS]
        if unknown:
            raise ServingError.invalid(
                f"metadata_field {shown(unknown[0])} is not supported; supported: "
                f"{list(METADATA_FIELDS)}."
            )
        servable = self.models.servable(request.model_spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        _fill_spec(response.model_spec, servable, "")
        if "signature_def" in request.metadata_field:
            defs = get_model_metadata_pb2.SignatureDefMap()
            for key, value in servable.signature_defs.items():
                defs.signature_def[key].CopyFrom(value)
            packed = any_pb2.Any()
            packed.Pack(defs)
            response.metadata["signature_def"].CopyFrom(packed)
        if "tfmtl" in request.metadata_field:
            packed = any_pb2.Any()
            packed.Pack(wrappers_pb2.StringValue(value=json.dumps(servable.metadata)))
            response.metadata["tfmtl"].CopyFrom(packed)
        return response


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus (HandleReloadConfigRequest: UNIMPLEMENTED; the base path is polled)."""

    def __init__(self, models: _Models):
        self.models = models

    @guarded
    def GetModelStatus(self, request, context):
        manager = self.models.manager(request.model_spec)
        spec = request.model_spec
        version = None
        if spec.WhichOneof("version_choice") == "version":
            version = int(spec.version.value)
        elif spec.WhichOneof("version_choice") == "version_label":
            version = manager.resolve(label=spec.version_label).version
        response = get_model_status_pb2.GetModelStatusResponse()
        for state in manager.states(version):
            status = response.model_version_status.add(
                version=state.version, state=_STATES.Value(state.state)
            )
            if state.error:
                status.status.error_code = error_codes_pb2.UNKNOWN
                status.status.error_message = state.error
        return response


class PredictionServer(GrpcServer):
    """A gRPC server with the PredictionService and ModelService on one port.

    Args:
        managers: dict. Model name -> `ModelManager` (started by `start`).
        port, host, max_workers, max_concurrent_requests: as `tfmtl.serving.grpc_server.GrpcServer`.
        max_batch_size: int. Most rows per Predict request (more: INVALID_ARGUMENT at once).
        reject_non_finite: bool. Refuse NaN/Inf float inputs, and rows whose inputs drive a head
            to NaN/Inf, with INVALID_ARGUMENT naming input or head and row (False: pass them on).
        metrics_port: as `tfmtl.serving.grpc_server.GrpcServer`.
        batching: `tfmtl.serving.batching.BatchingOptions` or None. Merge concurrent small
            Predicts into one model call (as `--enable_batching`); read `.batcher` after `start`.
            None: every request is its own call.
        tls: `tfmtl.serving.tls.ServerTls` or None. TLS on the port (as `--tls_cert`, `--tls_key`,
            `--tls_client_ca`); None: plaintext.

    Health reports each model by name: SERVING while it has a version loaded.
    """

    kind = "PredictionService"

    def __init__(
        self,
        managers: dict,
        port: int = 0,
        host: str = "127.0.0.1",
        max_workers: int = 16,
        max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
        max_concurrent_requests: int | None = None,
        reject_non_finite: bool = True,
        metrics_port: int | None = None,
        batching: BatchingOptions | None = None,
        tls: ServerTls | None = None,
    ):
        super().__init__(
            port, host, max_workers, max_concurrent_requests, metrics_port=metrics_port, tls=tls
        )
        self.batching, self.batcher = batching, None
        self.managers = dict(managers)
        self.max_batch_size, self.reject_non_finite = max_batch_size, reject_non_finite
        self.metrics.add_models(self.managers)
        for name, manager in self.managers.items():
            manager.listeners.append(
                lambda versions, name=name: self._versions_changed(name, versions)
            )

    def _versions_changed(self, name: str, versions: list[int]) -> None:
        self.metrics.versions_loaded(name, len(versions))
        if self.health is not None:
            self.health.set(name, serving=bool(versions))

    def on_start(self) -> None:
        for manager in self.managers.values():
            manager.start()
        if self.batching is not None:
            self.batcher = Batcher(self.batching)

    def add_services(self, server) -> None:
        models = _Models(self.managers, self.max_batch_size, self.reject_non_finite)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(models, self.batcher), server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(models), server)

    def start(self) -> "PredictionServer":
        super().start()
        for manager in self.managers.values():
            log.info(
                "Serving model '%s' versions %s from %s on %s (policy %s).",
                manager.name,
                manager.versions,
                manager.base_path,
                self.address,
                manager.policy,
            )
        if self.batcher is not None:
            log.info("Batching Predicts: %s.", self.batching)
        return self

    def on_stop(self) -> None:
        if self.batcher is not None:
            self.batcher.close()
        for manager in self.managers.values():
            manager.stop()


def serve(
    model_base_path,
    model_name: str,
    port: int = 0,
    host: str = "127.0.0.1",
    policy: str = "latest",
    poll_seconds: float = 1.0,
    version_labels: dict | None = None,
    tls: ServerTls | None = None,
    **kwargs,
) -> PredictionServer:
    """Start a PredictionServer for one model (as `tensorflow_model_server --model_base_path`).

    `tls`: a `tfmtl.serving.tls.ServerTls` for the port (None: plaintext); `kwargs`: as
        `PredictionServer`.
    """
    manager = ModelManager(
        model_base_path,
        model_name,
        policy=policy,
        poll_seconds=poll_seconds,
        version_labels=version_labels,
    )
    return PredictionServer({model_name: manager}, port=port, host=host, tls=tls, **kwargs).start()


def _fill_spec(model_spec, servable, signature_name: str) -> None:
    model_spec.name = servable.name
    model_spec.version.value = servable.version
    if signature_name:
        model_spec.signature_name = signature_name
