"""Ids outside the model or lookups inside it: the same weights either way.

A model built with `lookup=False` takes `FeatureSpec.encode`'s ids; `lookup=True` takes raw
values and looks them up itself (TensorFlow only: the lookup layers are TF ops). `tfmtl train`
trains on ids (no lookup in every step, and the only way on JAX and torch); what it saves on
TensorFlow, and what `tfmtl export` writes from any backend, looks raw values up, as serving
sends them.

Example:

>>> spec = tfmtl.FeatureSpec([tfmtl.CategoricalFeature("shop", vocabulary=("a", "b"))])
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("buy")]
>>> config = {"family": "mmoe", "num_experts": 2, "expert_units": [4]}
>>> on_ids = tfmtl.models.registry.build(config, spec, tasks, lookup=False)
>>> takes_ids(on_ids), takes_ids(with_lookups(on_ids))
(True, False)
"""

from __future__ import annotations


def takes_ids(model) -> bool:
    """True when a categorical or sequence input of `model` is encoded ids, not raw values."""
    spec = model.feature_spec
    return any(
        spec[n].kind != "dense" and str(t.dtype) != spec[n].dtype for n, t in model.input.items()
    )


def with_lookups(model):
    """`model`'s weights in the same registry model built with the lookups inside.

    Needs `model.metadata["model_config"]` (every `tfmtl.models.registry.build` model has it);
    keeps the metadata and the loss balancer, with its state.
    """
    from tfmtl.models import registry
    from tfmtl.models.precision import dtype_policy

    with dtype_policy(model.metadata.get("dtype_policy", "float32")):
        raw = registry.build(model.metadata["model_config"], model.feature_spec, model.tasks)
    if getattr(model, "balancer", None) is not None:
        raw.set_balancer(model.balancer)  # first: its variables are among the weights
    raw.set_weights(model.get_weights())
    raw.metadata.update(model.metadata)
    return raw
