"""Model builders: dict of raw features in, dict of task heads out."""

from tfmtl.models.dml import DML_VARIANTS, build_dml, build_dml_model
from tfmtl.models.flat import build_flat, gate_model
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.models.zoo import available_models, build_model, default_hparams, make_switcher, register_switcher

__all__ = [
    "MultiTaskModel",
    "available_models",
    "build_flat",
    "build_model",
    "default_hparams",
    "gate_model",
    "make_switcher",
    "register_switcher",
]
from tfmtl.models.sequential import build_aitm, build_esmm

__all__ += ["build_aitm", "build_esmm"]
__all__ += ["DML_VARIANTS", "build_dml", "build_dml_model"]
from tfmtl.models.dtrn import build_dtrn

__all__ += ["build_dtrn"]
from tfmtl.models.tree import build_flat_facets, build_hmtl, build_mfh, hmtl_plan, mfh_plan

__all__ += ["build_flat_facets", "build_hmtl", "build_mfh", "hmtl_plan", "mfh_plan"]
