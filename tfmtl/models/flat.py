"""The flat macro structure: features -> one switcher -> one tower per task."""

from __future__ import annotations

import keras

from tfmtl.features import FeatureSpec
from tfmtl.layers.switcher import Switcher
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.models.stages import check_switcher, embed, switch, towers
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
        spec: `FeatureSpec`. Adapted.
        tasks: list of `Task`. Task k reads the switcher's output k through its tower
            (`Task.tower_units`, heterogeneous per task).
        switcher: `Switcher`. One output per task; its gates are readable with `gate_model`.
        lookup: bool. Raw values looked up inside the model (TF backend, exportable), or
            pre-encoded ids (every backend). See `FeatureEmbedding`. Defaults to `True`.
        tower_dropout: float. Dropout in every tower. Defaults to `0.0`.
        name: str. The model's name. Defaults to `"flat"`.
        metadata: dict. JSON-able extras recorded in the model (`MultiTaskModel.metadata`).

    Returns:
        A `MultiTaskModel`: raw features in, one head `[B]` per task out, keyed by task name.

    Example:

    >>> columns = {"x0": np.arange(8.0), "x1": np.ones(8)}
    >>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0"), tfmtl.DenseFeature("x1")])
    >>> tasks = [tfmtl.Task("ctr"), tfmtl.Task("watch", kind="regression")]
    >>> mmoe = tfmtl.layers.MMoE(2, num_experts=3, expert_units=[8])
    >>> model = build_flat(spec.adapt(columns), tasks, mmoe)
    >>> sorted(model.output)
    ['ctr', 'watch']
    """
    tasks = check_tasks(tasks)
    check_switcher(switcher, tasks, "build_flat")
    inputs, x = embed(spec, lookup)
    heads = towers(tasks, switch(switcher, x), tower_dropout)
    return MultiTaskModel(inputs=inputs, outputs=heads, tasks=tasks, metadata=metadata, name=name)


def gate_model(model: keras.Model) -> keras.Model:
    """A model from the same inputs to every gate of every gated switcher in `model`.

    Its outputs are keyed `<switcher>/<gate>` (`Switcher.gate_names`); feed them to
    `tfmtl.metrics.expert_utilisation`. The builders call each switcher with
    `return_gates=True`, so the gates are in the graph of every model they make, and of the
    model loaded back from its `.keras` file.

    Example:

    >>> columns = {"x0": np.arange(8.0), "x1": np.ones(8)}
    >>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0"), tfmtl.DenseFeature("x1")])
    >>> tasks = [tfmtl.Task("ctr"), tfmtl.Task("cvr")]
    >>> model = build_flat(spec.adapt(columns), tasks, tfmtl.layers.MMoE(2, 3, [4], name="mmoe"))
    >>> gates = gate_model(model).predict({k: v[:5] for k, v in columns.items()}, verbose=0)
    >>> sorted(gates), gates["mmoe/task_0"].shape
    (['mmoe/task_0', 'mmoe/task_1'], (5, 3))
    """
    outputs = {}
    for layer in model.layers:
        if not isinstance(layer, Switcher) or not layer.gate_names:
            continue
        produced = keras.tree.flatten(layer.output)  # outputs, then gates (if returned)
        for gate_name, tensor in zip(layer.gate_names, produced[layer.num_outputs :]):
            outputs[f"{layer.name}/{gate_name}"] = tensor
    if not outputs:
        raise ValueError(
            f"Model '{model.name}' has no gated switcher whose gates are in its graph: build it "
            "with a tfmtl builder (they call switchers with return_gates=True), or call your "
            "switcher with return_gates=True."
        )
    return keras.Model(model.input, outputs, name=f"{model.name}_gates")
