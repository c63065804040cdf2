"""Export a tfmtl model to a versioned SavedModel that TF Serving serves unchanged.

`BASE/NAME/VERSION/` holds the SavedModel (written by `keras.export.ExportArchive`, which
tracks the model's lookup tables as resources: the vocabularies of `StringLookup` /
`IntegerLookup` travel inside the SavedModel and are initialised by its init op, the one
the TF1 session loader of `tensorflow_model_server` runs) with two signatures:

- `serving_default`: one tensor per raw feature (key = feature name, dtype from the
  spec, shape `[None]` or `[None, max_len]`) -> one `float32 [None]` per task head;
- `serving_examples`: `examples` (`string [None]`, serialized `tf.Example`) -> the same heads;

plus `assets.extra/tfmtl.json` (see `metadata.py`) and `assets.extra/tf_serving_warmup_requests`.

Known Keras 3 pitfalls this avoids: `tf.saved_model.save(keras_model)` writes no
`serving_default` for Keras 3 models (tensorflow#69307), so both signatures are explicit
endpoints; `model.export(input_signature=...)` breaks on multi-output models
(keras-team/keras#21258), so the heads come back as a dict from one traced function.

Example:

>>> import tempfile
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0")])
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("finish")]
>>> model = tfmtl.models.build_model("mmoe", spec, tasks, num_experts=2, expert_units=[4])
>>> base = Path(tempfile.mkdtemp())
>>> model.save(base / "model.keras")                # what `tfmtl train` writes
>>> path = export_saved_model(base / "model.keras", base=base / "models", name="ranker")
>>> path.relative_to(base)
PosixPath('models/ranker/1')
"""

from __future__ import annotations

from pathlib import Path

from tfmtl.export.examples import parsing_spec, signature_specs
from tfmtl.export.layout import ExportError, check_target, version_dir
from tfmtl.export.metadata import build_metadata, write_metadata
from tfmtl.export.warmup import warmup_logs, write_warmup

SIGNATURES = ("serving_default", "serving_examples")


def export_saved_model(
    model,
    base,
    name: str,
    version: int | None = None,
    fusion: dict | None = None,
    metrics: dict | None = None,
    warmup_rows=None,
) -> Path:
    """Write `model` to `BASE/NAME/VERSION/` atomically and return that path.

    Args:
        model: a `tfmtl.models.MultiTaskModel`, or the path of its `.keras` file.
        base: str or Path. The model base directory (created if missing).
        name: str. The model's name: `BASE/NAME` is TF Serving's `--model_base_path`.
        version: int or None. Defaults to the largest existing version + 1 (1 for none);
            an existing version is an error, never overwritten.
        fusion: dict or None. Overrides of the default fusion in tfmtl.json (see
            `metadata.check_fusion`); its keys `variants` ({name: overrides}) and `traffic`
            ({name: share}) write named variants and their split (`tfmtl.fusion_variants`).
        metrics: dict or None. Training metrics to record in tfmtl.json.
        warmup_rows: None, a row count, or a dict of raw columns for the warmup requests.

    Raises:
        ExportError: naming the culprit; nothing is left behind.
    """
    model = load_exportable(model)
    # Everything checkable is checked before a directory is made.
    _, version = check_target(base, name, version)
    metadata = build_metadata(model, name, version, fusion=fusion, metrics=metrics)
    logs = warmup_logs(model.feature_spec, model_name=name, rows=warmup_rows)
    with version_dir(base, name, version) as (tmp, final):
        write_archive(model, tmp)
        write_metadata(tmp, metadata)
        write_warmup(tmp, logs)
    return final


def load_exportable(model):
    """`model` (or the `.keras` file it names) as a MultiTaskModel with raw-feature inputs, or
    ExportError.
    """
    import keras

    from tfmtl.models.multitask_model import MultiTaskModel

    if isinstance(model, (str, Path)):
        path = Path(model)
        if not path.is_file() or path.suffix != ".keras":
            raise ExportError(
                f"model={str(path)!r} is not a .keras file; pass a model or the model.keras that "
                "`tfmtl train` wrote."
            )
        from tfmtl.models.loading import load_model

        try:
            model = load_model(path)
        except Exception as e:  # a corrupt or foreign file: say which
            raise ExportError(f"Cannot load {path} as a Keras model: {e}") from e
    if not isinstance(model, keras.Model):
        raise _not_tfmtl(model)
    try:
        inputs = model.input
    except (AttributeError, ValueError):  # an unbuilt Sequential or subclassed model
        inputs = None
    if inputs is None or (isinstance(inputs, (dict, list, tuple)) and not inputs):
        raise ExportError(
            f"Model '{model.name}' has no built inputs, so there is no signature to export; build "
            "it with "
            "tfmtl.models.build_model/build_flat, whose inputs are one keras.Input per raw feature."
        )
    if not isinstance(model, MultiTaskModel):
        raise _not_tfmtl(model)
    if keras.backend.backend() != "tensorflow":
        raise ExportError(
            "Export runs on the TensorFlow backend (KERAS_BACKEND=tensorflow); this process uses "
            f"'{keras.backend.backend()}'. Save the model to .keras and export it from a "
            "TensorFlow process."
        )
    if not isinstance(inputs, dict):
        raise ExportError(
            f"Model '{model.name}' inputs are a {type(inputs).__name__}, not a dict keyed by "
            "feature name; "
            "build it with tfmtl.models.build_model/build_flat."
        )
    try:
        spec = model.feature_spec
    except ValueError as e:
        raise ExportError(str(e)) from e
    model = _with_lookups(model)
    _check_inputs(model, model.input, spec)
    return model


def _with_lookups(model):
    """`model`, or, when it takes `FeatureSpec.encode`'s ids (built with `lookup=False`, as
    `tfmtl train` saves it on JAX and torch), its weights with the lookups inside, which takes
    the raw values serving sends (`tfmtl.models.lookups`).
    """
    from tfmtl.models.lookups import takes_ids, with_lookups

    if not takes_ids(model) or "model_config" not in model.metadata:
        return model  # raw inputs, or no recipe to rebuild from: `_check_inputs` says which
    return with_lookups(model)


def _not_tfmtl(model) -> ExportError:
    return ExportError(
        f"Cannot export a {type(model).__module__}.{type(model).__name__}: export needs a "
        "tfmtl.models.MultiTaskModel (built by tfmtl.models.build_model/build_flat), whose tasks "
        "name its heads."
    )


def _check_inputs(model, inputs: dict, spec) -> None:
    if sorted(inputs) != sorted(spec.names):
        raise ExportError(
            f"Model '{model.name}' inputs {sorted(inputs)} differ from its feature spec "
            f"{sorted(spec.names)}."
        )
    for name, tensor in inputs.items():
        expected = "float32" if spec[name].kind == "dense" else spec[name].dtype
        if str(tensor.dtype) != expected:
            raise ExportError(
                f"Input '{name}' of model '{model.name}' is {tensor.dtype}, but the serving "
                "signature takes raw "
                f"{expected} values: build the model with lookup=True so lookups happen inside it."
            )


def write_archive(model, directory) -> None:
    """The SavedModel itself: both signatures over `model`, heads reshaped to `float32 [None]`."""
    import keras
    import tensorflow as tf

    spec = model.feature_spec
    specs = signature_specs(spec)
    parse = parsing_spec(spec)

    @tf.function(input_signature=[specs])  # traced once, called by both signatures
    def heads(features):
        out = model(features, training=False)
        return {t.name: tf.reshape(tf.cast(out[t.name], tf.float32), [-1]) for t in model.tasks}

    def serving_examples(examples):
        return heads(tf.io.parse_example(examples, parse))

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", heads, input_signature=[specs])
    archive.add_endpoint(
        "serving_examples",
        serving_examples,
        input_signature=[tf.TensorSpec([None], tf.string, name="examples")],
    )
    archive.write_out(str(directory), verbose=False)
