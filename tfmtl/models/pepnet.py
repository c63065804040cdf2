"""PEPNet (Chang et al., KDD'23): EPNet on the embedding block, then PPNet towers, one per task."""

from __future__ import annotations

import dataclasses

from tfmtl.features import FeatureSpec
from tfmtl.layers.feature_select import FeatureSelect, feature_columns
from tfmtl.layers.pepnet import EPNet
from tfmtl.layers.ppnet import PPNetTower
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.models.stages import embed, towers
from tfmtl.tasks import check_tasks

# The paper's ablation study (PEPNet §4, w/o EPNet, w/o PPNet): variant -> (EPNet, PPNet).
PEPNET_VARIANTS = {
    "pepnet": (True, True),
    "epnet": (True, False),
    "ppnet": (False, True),
    "plain": (False, False),
}


@dataclasses.dataclass(frozen=True)
class PEPNetGates:
    """What PEPNet's gates read and how wide they are; `None` features: every categorical one.

    `domain_features` feed EPNet's gate (PEPNet eq 3), `prior_features` (user, item, author
    ids) the PPNet gates (eq 5-6); `epnet`/`ppnet` switch each network off for the ablation.
    """

    domain_features: tuple | None = None
    prior_features: tuple | None = None
    gate_units: int = 64
    epnet: bool = True
    ppnet: bool = True

    @property
    def variant(self) -> str:
        return {v: k for k, v in PEPNET_VARIANTS.items()}[(bool(self.epnet), bool(self.ppnet))]


def build_pepnet(
    spec: FeatureSpec,
    tasks,
    gates: PEPNetGates | None = None,
    tower_dropout: float = 0.0,
    lookup: bool = True,
    name: str | None = None,
) -> MultiTaskModel:
    """Build PEPNet: `E -> O_ep = EPNet(E) -> PPNetTower_k(O_ep, O_prior)` for each task k.

    EPNet (PEPNet eq 3-4) rescales the embedding block `E` with a gate on the domain
    features; each task's `PPNetTower` (eq 5-8) scales each hidden layer with a gate on the
    prior features, then gives the task's head as `Tower` does. `epnet=False` feeds `E`
    itself to the towers; `ppnet=False` uses plain `Tower`s (the ablations).

    Args:
        spec: `FeatureSpec`. Adapted.
        tasks: list of `Task`. Task k's tower has `Task.tower_units` hidden layers.
        gates: `PEPNetGates`. The gates' features, width and the ablation switches.
            Defaults to `PEPNetGates()`: every categorical feature for both gates.
        tower_dropout: float. Dropout in every tower. Defaults to `0.0`.
        lookup: bool. Raw values looked up in the model (exportable) or pre-encoded ids
            (every backend). Defaults to `True`.
        name: str. The model's name. Defaults to the variant (`"pepnet"`, `"epnet"`, ...).

    Returns:
        A `MultiTaskModel` with one head `[B]` per task; `metadata["pepnet"]` records the
        gates' features and switches.

    Example:

    >>> F = tfmtl.features
    >>> spec = tfmtl.FeatureSpec([F.CategoricalFeature("user_id", 4), F.DenseFeature("x")])
    >>> spec = spec.adapt({"user_id": np.array(["a", "b"]), "x": np.array([0.0, 1.0])})
    >>> tasks = [tfmtl.Task("ctr", tower_units=(4,)), tfmtl.Task("watch", kind="regression")]
    >>> model = build_pepnet(spec, tasks, PEPNetGates(gate_units=4))
    >>> model.name, model.metadata["pepnet"]["domain_features"], sorted(model.output)
    ('pepnet', ['user_id'], ['ctr', 'watch'])
    """
    tasks = check_tasks(tasks)
    gates = gates or PEPNetGates()
    domain = _features(spec, gates.domain_features, "domain_features")
    prior = _features(spec, gates.prior_features, "prior_features")
    inputs, embedding = embed(spec, lookup)
    x = embedding
    if gates.epnet:
        domain_embedding = FeatureSelect(spec, domain, name="domain_features")(embedding)
        x = EPNet(gates.gate_units, name="epnet")([embedding, domain_embedding])
    if gates.ppnet:
        prior_embedding = FeatureSelect(spec, prior, name="prior_features")(embedding)
        heads = _ppnet_towers(tasks, x, prior_embedding, gates.gate_units, tower_dropout)
    else:
        heads = towers(tasks, [x] * len(tasks), tower_dropout)
    gates = dataclasses.replace(gates, domain_features=domain, prior_features=prior)
    metadata = {"model": "pepnet", "variant": gates.variant, "pepnet": _record(gates)}
    return MultiTaskModel(
        inputs=inputs, outputs=heads, tasks=tasks, metadata=metadata, name=name or gates.variant
    )


def build_pepnet_family(spec, tasks, lookup: bool = True, **hp):
    """The registry's PEPNet (KDD'23 eq 1-8): `hp` are the family's registered hyper-parameters."""
    gates = PEPNetGates(
        domain_features=hp["domain_features"],
        prior_features=hp["prior_features"],
        gate_units=hp["gate_units"],
        epnet=hp["epnet"],
        ppnet=hp["ppnet"],
    )
    model = build_pepnet(spec, tasks, gates, tower_dropout=hp["tower_dropout"], lookup=lookup)
    model.metadata["hparams"] = dict(hp)
    return model


def _record(gates: PEPNetGates) -> dict:
    """`gates` as JSON-able metadata: the resolved feature lists, the width, the switches."""
    record = dataclasses.asdict(gates)
    record.update(epnet=bool(gates.epnet), ppnet=bool(gates.ppnet))
    return {k: list(v) if isinstance(v, tuple) else v for k, v in record.items()}


def _ppnet_towers(tasks, x, prior, gate_units: int, dropout: float) -> dict:
    """One `PPNetTower` per task on `[x, prior]`: task name -> head. Layers are `tower_<name>`."""
    return {
        t.name: PPNetTower(
            list(t.tower_units), t.kind, gate_units, dropout, name=f"tower_{t.name}"
        )([x, prior])
        for t in tasks
    }


def _features(spec: FeatureSpec, names, key: str) -> list[str]:
    """`names` checked against the embedding block, in spec order; `None`: every categorical."""
    block = feature_columns(spec)
    if names is None:
        chosen = [f.name for f in spec if f.kind == "categorical"]
        if not chosen:
            raise ValueError(
                f"{key}: the spec has no categorical feature to default to; name the "
                f"features, from: {', '.join(block)}."
            )
        return chosen
    if isinstance(names, str):
        names = [names]
    for n in names:
        if n not in block:
            raise ValueError(
                f"{key}: no feature {n!r} in the embedding block; choose from: {', '.join(block)}."
            )
    if not names:
        raise ValueError(f"{key}: empty; name at least one of: {', '.join(block)}, or None.")
    return [n for n in block if n in set(names)]
