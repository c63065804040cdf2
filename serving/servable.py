"""Servable: one loaded version of a model (SavedModel signatures + tfmtl metadata).

A version directory `BASE/NAME/VERSION/` holds `saved_model.pb`, `variables/` and
`assets.extra/` (`tfmtl.json`, `tf_serving_warmup_requests`). Loading replays the warmup
requests, as TF Serving does, so the first real request pays no tracing cost; a version
that fails to load or to warm up raises and is never served.

Example:

>>> import tempfile
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0")])
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("finish")]
>>> model = tfmtl.models.build_model("mmoe", spec, tasks, num_experts=2, expert_units=[4])
>>> version_dir = tfmtl.export.export_saved_model(model, tempfile.mkdtemp(), "ple")
>>> servable = Servable.load("ple", 1, version_dir)
>>> out = servable.run("serving_default", {"x0": np.zeros(2, np.float32)}, ["click"])
>>> sorted(out), out["click"].shape
(['click'], (2,))
"""

from __future__ import annotations

import dataclasses
import logging
import re
from pathlib import Path

import numpy as np

from tfmtl.contract import metadata_path, read_metadata
from tfmtl.serving.errors import ServingError, shown

log = logging.getLogger("tfmtl.serving")

WARMUP_FILE = "assets.extra/tf_serving_warmup_requests"
MAX_WARMUP_RECORDS = 1000


@dataclasses.dataclass
class Signature:
    """One signature: its function, input specs and output specs by key."""

    name: str
    function: object
    inputs: dict
    outputs: dict
    where: str

    def __call__(self, arrays: dict) -> dict:
        import tensorflow as tf

        tensors = {k: tf.constant(v) for k, v in arrays.items()}
        return self.function(**tensors)


class Servable:
    """A loaded model version. Built by `Servable.load`; see the module docstring."""

    def __init__(self, name: str, version: int, path: Path, loaded, signature_defs, metadata: dict):
        self.name, self.version, self.path = name, int(version), Path(path)
        self._loaded = loaded  # keeps the signatures' variables alive
        self.signature_defs = signature_defs
        self.metadata = metadata
        self.signatures = {
            key: _signature(key, fn, f"signature '{key}' of model '{name}' version {version}")
            for key, fn in loaded.signatures.items()
        }

    @classmethod
    def load(cls, name: str, version: int, path, warmup: bool = True) -> "Servable":
        """Load and warm up `path`; raises (with the reason) if the version is not servable."""
        import tensorflow as tf
        from tensorflow.core.protobuf import saved_model_pb2

        path = Path(path)
        pb = path / "saved_model.pb"
        if not pb.is_file():
            raise FileNotFoundError(
                f"{pb} does not exist: not a SavedModel (half-written or corrupt version)."
            )
        saved = saved_model_pb2.SavedModel.FromString(pb.read_bytes())
        if not saved.meta_graphs:
            raise ValueError(f"{pb} holds no MetaGraph.")
        signature_defs = {
            k: v for k, v in saved.meta_graphs[0].signature_def.items() if not k.startswith("__")
        }
        loaded = tf.saved_model.load(str(path))
        metadata = read_metadata(path) if metadata_path(path).is_file() else {}
        servable = cls(name, version, path, loaded, signature_defs, metadata)
        if not servable.signatures:
            raise ValueError(f"{path} has no serving signature.")
        if warmup:
            servable.warmup()
        return servable

    def signature(self, key: str) -> Signature:
        key = key or "serving_default"
        if key not in self.signatures:
            raise ServingError.not_found(
                f"Signature {shown(key)} (model_spec.signature_name) not found in model "
                f"'{self.name}' version "
                f"{self.version}. Signatures: {sorted(self.signatures)}."
            )
        return self.signatures[key]

    def run(self, signature_key: str, arrays: dict, outputs: list[str]) -> dict:
        """Run one signature on checked numpy inputs; TF's own refusals become INVALID_ARGUMENT."""
        import tensorflow as tf

        signature = self.signature(signature_key)
        try:
            result = signature(arrays)
        except tf.errors.InvalidArgumentError as e:
            raise ServingError.invalid(
                f"{signature.where} refused {_subject(arrays)}: {_reason(e.message)}"
            ) from e
        except UnicodeDecodeError as e:
            # TF quotes the value it could not parse; non-UTF-8 bytes there break the error itself.
            strings = {k: v for k, v in arrays.items() if v.dtype.kind == "O"} or arrays
            raise ServingError.invalid(
                f"{signature.where} could not parse {_subject(strings)}: it holds bytes that are "
                "not what the "
                "signature reads (serving_examples reads serialized tf.Example protos)."
            ) from e
        return {k: result[k].numpy() for k in outputs}

    def warmup(self) -> int:
        """Replay `assets.extra/tf_serving_warmup_requests` (PredictionLog records); returns the
        count.
        """
        file = self.path / WARMUP_FILE
        if not file.is_file():
            return 0
        import tensorflow as tf
        from tensorflow_serving.apis import prediction_log_pb2

        from tfmtl.serving.validation import check_inputs, check_output_filter

        count = 0
        for record in tf.data.TFRecordDataset(str(file)).take(MAX_WARMUP_RECORDS):
            entry = prediction_log_pb2.PredictionLog.FromString(record.numpy())
            if not entry.HasField("predict_log"):
                continue
            request = entry.predict_log.request
            signature = self.signature(request.model_spec.signature_name)
            arrays = check_inputs(signature, request.inputs, max_batch_size=np.iinfo(np.int32).max)
            self.run(signature.name, arrays, check_output_filter(signature, request.output_filter))
            count += 1
        log.info(
            "Model '%s' version %d: replayed %d warmup request(s).", self.name, self.version, count
        )
        return count


def _subject(arrays: dict) -> str:
    names = sorted(arrays)
    return f"input {shown(names[0])}" if len(names) == 1 else f"the inputs {names}"


_TF_NOISE_LINES = ("Graph execution error", "Detected at node", "<stack traces", "File ")
_TF_NOISE = re.compile(r"\[\[\{\{node [^}]*\}\}\]\]|\[Op:[^\]]*\]")
MAX_REASON_CHARS = 300


def _reason(message: str) -> str:
    """TF's error text on one line, without graph internals (stack, node and op names)."""
    lines = (line.strip() for line in message.splitlines())
    kept = " ".join(line for line in lines if line and not line.startswith(_TF_NOISE_LINES))
    text = " ".join(_TF_NOISE.sub("", kept).split()) or "TensorFlow gave no reason"
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS] + "..."


def _signature(key: str, fn, where: str) -> Signature:
    inputs = dict(fn.structured_input_signature[1])
    outputs = dict(fn.structured_outputs)
    return Signature(key, fn, inputs, outputs, where)
