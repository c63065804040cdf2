"""ModelInfo: what the ranking service knows about a served model version, and its cache.

From the PredictionService's GetModelMetadata it takes the `signature_def` (input keys,
dtypes and shapes; output keys) and the version; from the export's `tfmtl.json` the tasks,
default fusion and facet groups, checked by `tfmtl.contract`. `tfmtl.json` comes from the
embedded server (`metadata_field: "tfmtl"`) or, for a real TF Serving, from `metadata_dir`
(`contract.metadata_path(BASE/NAME/VERSION)`, the same volume TF Serving reads). A malformed
one, or one of an unknown format, is FAILED_PRECONDITION naming the file and the field.

Example:

>>> import tempfile
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0")])
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("finish")]
>>> model = tfmtl.models.build_model("mmoe", spec, tasks, num_experts=2, expert_units=[4])
>>> version_dir = tfmtl.export.export_saved_model(model, tempfile.mkdtemp(), "ple")
>>> server = tfmtl.serving.serve(version_dir.parent, "ple", port=0)
>>> stub = tfmtl.serving.backends.PredictionBackends(server.address)
>>> cache = ModelInfoCache(stub)
>>> info = cache.get("ple", version=None)   # the version served now
>>> info.version, info.task_names
(1, ['click', 'finish'])
>>> stub.close(); server.stop()
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from pathlib import Path

import grpc
import numpy as np
from google.protobuf import wrappers_pb2
from tensorflow_serving.apis import get_model_metadata_pb2

from tfmtl import contract, fusion_variants
from tfmtl.serving.errors import ServingError, shown
from tfmtl.serving.fusion import Fusion

_NUMPY = {
    1: np.dtype(np.float32),
    9: np.dtype(np.int64),
    7: np.dtype(object),
    3: np.dtype(np.int32),
    2: np.dtype(np.float64),
}  # tensorflow DataType enum -> numpy


@dataclasses.dataclass
class ModelInfo:
    """One model version as the ranking service sees it."""

    name: str
    version: int
    signature_name: str
    inputs: dict  # key -> (numpy dtype, shape without the batch dimension)
    outputs: list
    metadata: dict

    # Derived once per cached ModelInfo, not per request: the metadata never changes for a version.
    @functools.cached_property
    def tasks(self) -> list[dict]:
        return list(self.metadata.get("tasks", []))

    @functools.cached_property
    def task_names(self) -> list[str]:
        return contract.task_names(self.metadata) or sorted(self.outputs)

    @functools.cached_property
    def facet_groups(self) -> dict:
        return contract.facet_groups(self.metadata)

    @functools.cached_property
    def fusion(self) -> Fusion:
        return Fusion.of_model(self.metadata)

    @functools.cached_property
    def variants(self) -> dict:
        """Fusion variant name -> `Fusion` (`tfmtl.fusion_variants`; "default" is `fusion`)."""
        try:
            return {
                name: Fusion(**f) for name, f in fusion_variants.variants(self.metadata).items()
            }
        except contract.ContractError as e:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"tfmtl.json of model '{self.name}' version {self.version}: {e}",
            ) from None

    @functools.cached_property
    def traffic(self) -> dict:
        """Variant name -> traffic share (`{}`: requests get "default" unless naming a variant)."""
        try:
            return fusion_variants.traffic(self.metadata)
        except contract.ContractError as e:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"tfmtl.json of model '{self.name}' version {self.version}: {e}",
            ) from None

    def fusion_of(self, heads, variant: str = fusion_variants.DEFAULT) -> Fusion:
        """Fusion `variant` restricted to `heads`, remembered per variant and set of heads."""
        known = self.__dict__.setdefault("_fusions", {})
        key = (variant, tuple(heads))
        if key not in known:
            known[key] = self.variants[variant].restricted(heads)
        return known[key]

    def group_heads(self, group: str) -> list[str]:
        """`tfmtl.contract.group_heads` for this version, remembered per group (errors are not)."""
        known = self.__dict__.setdefault("_group_heads", {})
        if group not in known:
            heads = contract.group_heads(
                self.metadata, group, f"model '{self.name}' version {self.version}"
            )
            known[group] = (
                heads if heads or group else list(self.task_names)
            )  # no tasks listed: every output
        return known[group]


class ModelInfoCache:
    """ModelInfo by (model, version); the unversioned "latest" entry expires after `ttl_seconds`.

    Args:
        stub: a `PredictionServiceStub`.
        metadata_dir: str or None. Parent of the model base paths, to read tfmtl.json from
            disk (for a real TF Serving, which does not serve it).
        ttl_seconds: float. How long the answer to "which version is served" is trusted.
        timeout: float. Seconds for each GetModelMetadata call.
    """

    def __init__(self, stub, metadata_dir=None, ttl_seconds: float = 2.0, timeout: float = 10.0):
        self.stub, self.ttl, self.timeout = stub, float(ttl_seconds), timeout
        self.metadata_dir = Path(metadata_dir) if metadata_dir else None
        self._versions: dict[tuple, ModelInfo] = {}
        self._latest: dict[tuple, tuple[float, ModelInfo]] = {}
        self._lock = threading.Lock()

    def get(
        self, name: str, version: int | None, signature_name: str = "serving_default"
    ) -> ModelInfo:
        key = (name, signature_name)
        with self._lock:
            if (
                version is None
                and key in self._latest
                and time.monotonic() - self._latest[key][0] < self.ttl
            ):
                return self._latest[key][1]
            if version is not None and (name, version, signature_name) in self._versions:
                return self._versions[(name, version, signature_name)]
        info = self._fetch(name, version, signature_name)
        with self._lock:
            self._versions[(name, info.version, signature_name)] = info
            if version is None:
                self._latest[key] = (time.monotonic(), info)
        return info

    def forget_latest(self, name: str, signature_name: str = "serving_default") -> None:
        with self._lock:
            self._latest.pop((name, signature_name), None)

    def _fetch(self, name: str, version: int | None, signature_name: str) -> ModelInfo:
        if self.metadata_dir:
            _path_component(name)  # refused before the PredictionService is asked
        try:
            response = self._call(
                name,
                version,
                ["signature_def"] if self.metadata_dir else ["signature_def", "tfmtl"],
            )
        except ServingError as e:
            if self.metadata_dir or e.code != grpc.StatusCode.INVALID_ARGUMENT:
                raise
            response = self._call(name, version, ["signature_def"])  # TF Serving: no tfmtl field
        served_version = int(response.model_spec.version.value)
        defs = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(defs)
        if signature_name not in defs.signature_def:
            raise ServingError.not_found(
                f"signature_name {shown(signature_name)} not found in model '{name}' version "
                f"{served_version}. "
                f"Signatures: {sorted(defs.signature_def)}."
            )
        sig = defs.signature_def[signature_name]
        inputs = {
            key: (
                _NUMPY.get(t.dtype, np.dtype(object)),
                tuple(int(d.size) for d in t.tensor_shape.dim[1:]),
            )
            for key, t in sig.inputs.items()
        }
        if self.metadata_dir:
            metadata = self._read_metadata(name, served_version)
        else:
            text = wrappers_pb2.StringValue()
            if "tfmtl" in response.metadata:
                response.metadata["tfmtl"].Unpack(text)
            metadata = self._parse(
                text.value, f"tfmtl.json of model '{name}' version {served_version}"
            )
        if not metadata.get("tasks"):
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Model '{name}' version {served_version} has no tfmtl.json (tasks, fusion): "
                "export it with "
                "tfmtl.export.export_saved_model, and point --metadata_dir at the model base "
                "paths' parent "
                "when the PredictionService is TF Serving.",
            )
        return ModelInfo(
            name, served_version, signature_name, inputs, sorted(sig.outputs), metadata
        )

    def _call(self, name: str, version: int | None, fields: list[str]):
        request = get_model_metadata_pb2.GetModelMetadataRequest()
        request.model_spec.name = name
        if version is not None:
            request.model_spec.version.value = int(version)
        request.metadata_field.extend(fields)
        try:
            return self.stub.GetModelMetadata(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise from_rpc_error(e, "GetModelMetadata") from e

    def _read_metadata(self, name: str, version: int) -> dict:
        version_dir = self.metadata_dir / _path_component(name) / str(version)
        if not contract.metadata_path(version_dir).is_file():
            return {}
        try:
            return contract.read_metadata(version_dir)
        except contract.ContractError as e:
            raise ServingError(grpc.StatusCode.FAILED_PRECONDITION, str(e)) from None

    @staticmethod
    def _parse(text: str, source: str) -> dict:
        if not text or text.strip() in ("{}", "null"):
            return {}
        try:
            return contract.parse_metadata(text, source)
        except contract.ContractError as e:
            raise ServingError(grpc.StatusCode.FAILED_PRECONDITION, str(e)) from None


def _path_component(name: str) -> str:
    """`name` when it is one plain folder name: `metadata_dir / name` stays inside metadata_dir."""
    if (
        not name
        or name.startswith(".")
        or any(c in name for c in "/\\\0:")
        or Path(name).is_absolute()
    ):
        raise ServingError.invalid(
            f"model_name {shown(name)} cannot name a folder of --metadata_dir: a model name holds "
            "no '/', "
            "'\\', ':' or NUL and does not start with '.'."
        )
    return name


def from_rpc_error(error: grpc.RpcError, call: str) -> ServingError:
    """A PredictionService error, passed on with its status (UNAVAILABLE and the like kept)."""
    code = error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN
    details = error.details() if hasattr(error, "details") else str(error)
    return ServingError(code, f"PredictionService {call}: {details}")
