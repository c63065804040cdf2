"""The stages every builder shares: raw features embedded, a switcher checked and applied, towers.

A builder is these stages plus what its paper adds (DML's towers, DTRN's bottoms, a tree):

>>> from tfmtl.features import DenseFeature, FeatureSpec
>>> columns = {"x0": np.arange(4.0), "x1": np.ones(4)}
>>> spec = FeatureSpec([DenseFeature("x0"), DenseFeature("x1")]).adapt(columns)
>>> tasks = [tfmtl.Task("ctr"), tfmtl.Task("cvr")]
>>> inputs, x = embed(spec, lookup=True)
>>> switcher = check_switcher(tfmtl.layers.MMoE(2, num_experts=2, expert_units=[4]), tasks, "demo")
>>> heads = towers(tasks, switch(switcher, x))
>>> sorted(heads), tuple(heads["ctr"].shape)
(['ctr', 'cvr'], (None,))
"""

from __future__ import annotations

from tfmtl.features import FeatureSpec
from tfmtl.layers.embedding import FeatureEmbedding
from tfmtl.layers.switcher import Switcher
from tfmtl.layers.towers import Tower


def embed(spec: FeatureSpec, lookup: bool = True):
    """`(inputs, x)`: one `keras.Input` per raw feature and their embedding `[B, D]`."""
    inputs = spec.inputs(lookup=lookup)
    return inputs, FeatureEmbedding(spec, lookup=lookup, name="features")(inputs)


def check_switcher(switcher, tasks, owner: str) -> Switcher:
    """`switcher` itself, once it is a `Switcher` with one output per task (else the error).

    `tasks`: the `Task`s the outputs feed, or just how many outputs are needed.
    """
    if not isinstance(switcher, Switcher):
        raise TypeError(f"{owner} needs a tfmtl Switcher; got {type(switcher).__name__}.")
    wanted = tasks if isinstance(tasks, int) else len(tasks)
    if switcher.num_outputs != wanted:
        names = "" if isinstance(tasks, int) else f" for tasks {[t.name for t in tasks]}"
        raise ValueError(
            f"{owner}: switcher '{switcher.name}' has num_outputs={switcher.num_outputs}; "
            f"it needs {wanted}{names}."
        )
    return switcher


def switch(switcher: Switcher, x) -> list:
    """The switcher's outputs on `x`; its gates stay in the graph for `gate_model` to read."""
    outputs, _ = switcher(x, return_gates=True)
    return list(outputs)


def towers(tasks, inputs, dropout: float = 0.0, names=None) -> dict:
    """One `Tower` per task on its input: task name -> head. Layers are `tower_<name>`."""
    names = names or [t.name for t in tasks]
    return {
        t.name: Tower(list(t.tower_units), kind=t.kind, dropout=dropout, name=f"tower_{n}")(x)
        for t, n, x in zip(tasks, names, inputs)
    }
