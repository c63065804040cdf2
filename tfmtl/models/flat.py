"""The flat macro structure: features -> one switcher -> one tower per task."""

from __future__ import annotations

import keras

from tfmtl.features import FeatureSpec
from tfmtl.layers.embedding import FeatureEmbedding
from tfmtl.layers.switcher import Switcher
from tfmtl.layers.towers import Tower
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.tasks import check_tasks


def build_flat(
    spec: FeatureSpec,
    tasks,
    switcher: Switcher,
    lookup: bool = True,
    tower_dropout: float = 0.0,
    name: str = "flat",
    metadata: dict | None = None,
) -> MultiTaskModel:
    """Build `dict of raw features -> dict of task heads` around any switcher.

    Args:
        spec: an adapted `FeatureSpec`.
        tasks: list of `Task`; task k reads the switcher's output k through its tower
            (`Task.tower_units`, heterogeneous per task).
        switcher: a `Switcher` with `num_outputs == len(tasks)`; build it with
            `return_gates=True` to analyse expert utilisation (`gate_model`).
        lookup: bool. Raw values looked up inside the model (TF backend, exportable), or
            pre-encoded ids (every backend). See `FeatureEmbedding`.

    Example:

    >>> model = build_flat(spec, tasks, tfmtl.layers.MMoE(2, num_experts=4, expert_units=[32]))
    >>> sorted(model.output_names) == sorted(t.name for t in tasks)
    True
    """
    tasks = check_tasks(tasks)
    if not isinstance(switcher, Switcher):
        raise TypeError(f"build_flat needs a tfmtl Switcher; got {type(switcher).__name__}.")
    if switcher.num_outputs != len(tasks):
        raise ValueError(
            f"Switcher '{switcher.name}' has num_outputs={switcher.num_outputs} but there are "
            f"{len(tasks)} tasks {[t.name for t in tasks]}."
        )
    inputs = spec.inputs(lookup=lookup)
    x = FeatureEmbedding(spec, lookup=lookup, name="features")(inputs)
    outputs = switcher(x)
    if switcher.return_gates:
        outputs = outputs[0]
    heads = {
        t.name: Tower(
            list(t.tower_units), kind=t.kind, dropout=tower_dropout, name=f"tower_{t.name}"
        )(o)
        for t, o in zip(tasks, outputs)
    }
    return MultiTaskModel(inputs=inputs, outputs=heads, tasks=tasks, metadata=metadata, name=name)


def gate_model(model: keras.Model) -> keras.Model:
    """A model from the same inputs to every gate of every switcher built with `return_gates=True`.

    Its outputs are keyed `<switcher>/<gate>`; feed them to `tfmtl.metrics.expert_utilisation`.
    """
    outputs = {}
    for layer in model.layers:
        if isinstance(layer, Switcher) and layer.return_gates and layer._inbound_nodes:
            flat = layer._inbound_nodes[0].output_tensors  # outputs, then gates
            for gate_name, tensor in zip(layer.gate_names, flat[layer.num_outputs :]):
                outputs[f"{layer.name}/{gate_name}"] = tensor
    if not outputs:
        raise ValueError(
            f"Model '{model.name}' has no switcher built with return_gates=True; rebuild it with "
            "return_gates=True to read expert utilisation."
        )
    return keras.Model(model.input, outputs, name=f"{model.name}_gates")
