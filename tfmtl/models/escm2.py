"""ESCM² (Wang et al., SIGIR'22): ESMM plus a counterfactual CVR risk over the entire space.

`L = L_CTR + λ_c R_CVR + λ_g L_CTCVR` (ESCM²'s objective): ESMM's ctr and ctcvr losses
(compiled per task, `tfmtl.training.compile_multitask`) plus the IPS or DR risk of
`tfmtl.losses_counterfactual`, which `ESCM2Model.compute_loss` adds from the click label
(the ctr task's), the conversion label (the cvr task's) and both towers' predictions.

Example:

>>> data = tfmtl.data.load_funnel(rows=2_000)
>>> model = build_escm2(data.spec, data.tasks, risk="ips", imputation_units=[4])
>>> sorted(model.output), model.risk, [t.loss_weight for t in model.tasks]
(['ctcvr', 'ctr', 'cvr'], 'ips', [1.0, 0.0, 1.0])
"""

from __future__ import annotations

import keras

from tfmtl.features import FeatureSpec
from tfmtl.layers.switcher import Switcher
from tfmtl.layers.towers import Tower
from tfmtl.losses_counterfactual import check_risk, counterfactual_risk
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.models.sequential import build_esmm

_OPTIONS = {
    "propensity_clip": 0.05,
    "imputation_units": (64,),
    "tower_dropout": 0.0,
    "lookup": True,
    "name": "escm2",
}


@keras.saving.register_keras_serializable(package="tfmtl")
class ESCM2Model(MultiTaskModel):
    """An ESMM `MultiTaskModel` (heads ctr, cvr, ctcvr) whose loss adds `λ_c R_CVR`.

    `compute_loss` = the compiled task losses (`L_CTR + λ_g L_CTCVR`, the cvr task at weight
    0) + `counterfactual_weight · R_CVR`, with `R_CVR = R_IPS` or `R_DR + L_IMP`. For `"dr"`
    the imputation tower (`imputation`, not a served head) reads the shared embedding
    (layer `features`) and predicts the imputed conversion `r̃`; it trains on `L_IMP` only.
    Propensities are the CTR head's pCTR, held constant and clipped to
    `[propensity_clip, 1]`.

    Differs from the paper: the propensity carries no gradient: a gradient through `1/pCTR`
    lowers the risk by inflating pCTR on clicked impressions, biasing the CTR tower that
    `L_CTR` fits (PaddleRec's ESCM² reproduction stops it for IPS, clipping `1/pCTR` at 15,
    but not for DR); here both risks hold it constant. `pCTR` is clipped below at
    `propensity_clip` (0.05: weights <= 20) to bound the variance. The DR error is imputed
    through `r̃` and the two DR terms train disjoint towers (see
    `tfmtl.losses_counterfactual`). The cvr task's own clicked-only loss is off (weight 0):
    `R_CVR` replaces it.

    Args:
        tasks: list of `Task`. `[ctr, cvr, ctcvr]`, in this order (as `build_esmm`'s).
        metadata: dict. As for `MultiTaskModel`.
        risk: str. `"dr"` or `"ips"`. Defaults to `"dr"`.
        counterfactual_weight: float. `λ_c`. Defaults to `1.0`.
        propensity_clip: float. Lower bound of the propensity, in `(0, 1]`. Defaults to `0.05`.
        imputation_units: list of int. Hidden sizes of the imputation tower (`"dr"` only).
            Defaults to `(64,)`.
    """

    def __init__(
        self,
        *args,
        tasks=(),
        metadata=None,
        risk: str = "dr",
        counterfactual_weight: float = 1.0,
        propensity_clip: float = 0.05,
        imputation_units=(64,),
        **kwargs,
    ):
        super().__init__(*args, tasks=tasks, metadata=metadata, **kwargs)
        self.risk = check_risk(risk, "ESCM2Model")
        self.counterfactual_weight = float(counterfactual_weight)
        self.propensity_clip = float(propensity_clip)
        self.imputation_units = [int(u) for u in imputation_units]
        _check_settings(self.tasks, self.counterfactual_weight, self.propensity_clip)
        self.imputation = None
        if self.risk == "dr":
            self.imputation = Tower(self.imputation_units, name="imputation")
            self.imputation.build(self.get_layer("features").output.shape)

    def set_balancer(self, balancer) -> None:
        if balancer is not None and balancer.needs_task_gradients:
            raise ValueError(
                f"ESCM2Model adds its counterfactual risk in compute_loss, which gradient-level "
                f"balancers bypass. Received: {type(balancer).__name__}; use a loss-level one."
            )
        super().set_balancer(balancer)

    def counterfactual_losses(self, x, y, y_pred, training=False) -> dict:
        """`{"ips": R_IPS}` or `{"dr": R_DR, "imputation": L_IMP}` on one batch (unweighted)."""
        ctr, cvr = self.tasks[0].name, self.tasks[1].name
        imputed = None
        if self.imputation is not None:
            imputed = self.imputation(self.get_layer("features")(x), training=training)
        return counterfactual_risk(
            self.risk, y[ctr], y[cvr], y_pred[ctr], y_pred[cvr], imputed, self.propensity_clip
        )

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        total = super().compute_loss(x, y, y_pred, sample_weight, training=training)
        parts = self.counterfactual_losses(x, y, y_pred, training=training)
        return total + self.counterfactual_weight * sum(parts.values())

    def get_config(self):
        return {
            **super().get_config(),
            "risk": self.risk,
            "counterfactual_weight": self.counterfactual_weight,
            "propensity_clip": self.propensity_clip,
            "imputation_units": self.imputation_units,
        }


def build_escm2(
    spec: FeatureSpec,
    tasks,
    switcher: Switcher | None = None,
    risk: str = "dr",
    counterfactual_weight: float = 1.0,
    ctcvr_loss_weight: float = 1.0,
    **options,
) -> ESCM2Model:
    """ESCM²-IPS or -DR on ESMM's structure: CTR and CVR towers, pCTCVR = pCTR × pCVR.

    Args:
        spec: an adapted `FeatureSpec`.
        tasks: `[ctr, cvr, ctcvr]` Tasks, in this order (see `build_esmm`).
        switcher: `Switcher`. Optional, with 2 outputs, between the embedding and the towers.
        risk: str. `"dr"` or `"ips"`: the counterfactual CVR risk. Defaults to `"dr"`.
        counterfactual_weight: float. `λ_c`. Defaults to `1.0`.
        ctcvr_loss_weight: float. `λ_g`, the ctcvr task's loss weight. Defaults to `1.0`.
        **options: `propensity_clip` (0.05), `imputation_units` ([64]), `tower_dropout`
            (0.0), `lookup` (True) and `name` ("escm2").

    Returns:
        An `ESCM2Model` with heads `{ctr, cvr, ctcvr}` `[B]`, loss weights
        `(1, 0, ctcvr_loss_weight)`: the cvr head learns from the counterfactual risk.
    """
    check_risk(risk, "build_escm2")
    unknown = sorted(set(options) - set(_OPTIONS))
    if unknown:
        raise ValueError(
            f"build_escm2 has no option {unknown[0]!r}; it takes: {', '.join(sorted(_OPTIONS))}."
        )
    opts = {**_OPTIONS, **options}
    esmm = build_esmm(
        spec,
        tasks,
        switcher,
        loss_weights=(1.0, 0.0, float(ctcvr_loss_weight)),
        lookup=opts["lookup"],
        tower_dropout=opts["tower_dropout"],
        name=opts["name"],
    )
    settings = {
        "risk": risk,
        "counterfactual_weight": float(counterfactual_weight),
        "propensity_clip": float(opts["propensity_clip"]),
        "imputation_units": [int(u) for u in opts["imputation_units"]],
    }
    metadata = {**esmm.metadata, "model": "escm2", "family": "escm2"}
    metadata["hparams"] = {**metadata["hparams"], **settings}
    return ESCM2Model(
        inputs=esmm.input,
        outputs=esmm.output,
        tasks=esmm.tasks,
        metadata=metadata,
        name=opts["name"],
        **settings,
    )


def build_escm2_family(spec, tasks, switcher: dict | None, lookup: bool = True, **hp):
    """The registry's ESCM² (`register_family("escm2", ...)`): a switcher config, if any."""
    layer = None
    if switcher is not None:
        from tfmtl.models.zoo import make_switcher

        config = dict(switcher)
        layer = make_switcher(config.pop("family"), 2, **config)
    return build_escm2(
        spec,
        tasks,
        layer,
        risk=hp["risk"],
        counterfactual_weight=hp["counterfactual_weight"],
        ctcvr_loss_weight=hp["ctcvr_loss_weight"],
        propensity_clip=hp["propensity_clip"],
        imputation_units=hp["imputation_units"],
        tower_dropout=hp["tower_dropout"],
        lookup=lookup,
    )


def _check_settings(tasks, counterfactual_weight: float, propensity_clip: float) -> None:
    if len(tasks) != 3:
        raise ValueError(
            f"ESCM2Model needs tasks [ctr, cvr, ctcvr]. Received: {[t.name for t in tasks]}"
        )
    if counterfactual_weight < 0 or not 0.0 < propensity_clip <= 1.0:
        raise ValueError(
            "ESCM2Model needs counterfactual_weight >= 0 and 0 < propensity_clip <= 1. "
            f"Received: counterfactual_weight={counterfactual_weight}, "
            f"propensity_clip={propensity_clip}"
        )
