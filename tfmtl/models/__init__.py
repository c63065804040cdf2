"""Model builders: dict of raw features in, dict of task heads out.

`tfmtl.models.registry` names every family; the builders load on first use, so importing
the registry (to check a run config) loads no Keras.
"""

import importlib

_EXPORTS = {
    "DML_VARIANTS": "dml",
    "build_dml": "dml",
    "build_dml_model": "dml",
    "build_flat": "flat",
    "gate_model": "flat",
    "MultiTaskModel": "multitask_model",
    "available_models": "zoo",
    "build_model": "zoo",
    "default_hparams": "zoo",
    "make_switcher": "zoo",
    "register_switcher": "registry",
    "register_family": "registry",
    "available_families": "registry",
    "build": "registry",
    "resolve": "registry",
    "load_model": "loading",
    "build_aitm": "sequential",
    "build_esmm": "sequential",
    "build_dtrn": "dtrn",
    "build_flat_facets": "flat_facets",
    "build_hmtl": "tree",
    "build_mfh": "tree",
    "hmtl_plan": "tree_plan",
    "mfh_plan": "tree_plan",
    "DTRN_VARIANTS": "dtrn",
    "dtype_policy": "precision",
    "ESCM2Model": "escm2",
    "build_escm2": "escm2",
    "build_stem": "stem",
    "build_pepnet": "pepnet",
    "PEPNetGates": "pepnet",
    "PEPNET_VARIANTS": "pepnet",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"tfmtl.models.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'tfmtl.models' has no attribute {name!r}")
