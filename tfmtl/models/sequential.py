"""Builders for sequentially dependent tasks (a click -> conversion funnel): ESMM and AITM.

Example:

>>> data = tfmtl.data.load_dataset("funnel", rows=20_000)
>>> ctr, cvr, ctcvr = data.tasks
>>> esmm = build_esmm(data.spec, [ctr, cvr, ctcvr])          # pCTCVR = pCTR × pCVR
>>> aitm = build_aitm(data.spec, [ctr, ctcvr])               # click -> purchase, entire space
"""

from __future__ import annotations

import dataclasses

from tfmtl.features import FeatureSpec
from tfmtl.layers.aitm import AITM, BehaviourCalibration
from tfmtl.layers.embedding import FeatureEmbedding
from tfmtl.layers.esmm import EntireSpaceProduct
from tfmtl.layers.shared_bottom import SingleTask
from tfmtl.layers.switcher import Switcher
from tfmtl.layers.towers import Tower
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.tasks import check_tasks


def build_esmm(
    spec: FeatureSpec,
    tasks,
    switcher: Switcher | None = None,
    cvr_loss_weight: float = 0.0,
    ctcvr_loss_weight: float = 1.0,
    ctr_loss_weight: float = 1.0,
    lookup: bool = True,
    tower_dropout: float = 0.0,
    name: str = "esmm",
) -> MultiTaskModel:
    """ESMM (Ma et al., SIGIR'18): CTR and CVR towers on shared embeddings, pCTCVR = pCTR × pCVR.

    `L = sum_i CE(y_i, pCTR_i) + sum_i CE(y_i & z_i, pCTCVR_i)` over ALL impressions (ESMM
    eq 3): the CVR tower learns only through the product, so it is fitted on the entire
    space rather than on clicked samples (sample selection bias) — `cvr_loss_weight=0`.
    The CVR head is still an output (the model's CVR prediction), scored on its task's
    sample space. `cvr_loss_weight=1, ctcvr_loss_weight=0` gives the naive baseline: the
    same network with the CVR head trained on clicked samples only (sharing the embeddings
    with the CTR task); adding `ctr_loss_weight=0` leaves a CVR-only model trained on clicks
    (ESMM's BASE).

    Args:
        spec: an adapted `FeatureSpec`.
        tasks: `[ctr, cvr, ctcvr]` Tasks, in this order. ctr and ctcvr must cover the entire
            space (no `sample_space`); cvr's sample space is normally `"click == 1"`.
        switcher: optional `Switcher` with 2 outputs between the embedding and the two
            towers (e.g. `make_switcher("mmoe", 2)`); without one both towers read the
            shared embedding, as in the paper.
        cvr_loss_weight, ctcvr_loss_weight, ctr_loss_weight: float. Replace the tasks'
            loss weights.

    Returns a `MultiTaskModel` with heads `{ctr, cvr, ctcvr}` named after the tasks.
    """
    tasks = check_tasks(tasks)
    if len(tasks) != 3:
        raise ValueError(
            f"build_esmm needs tasks [ctr, cvr, ctcvr]. Received {len(tasks)}: {[t.name for t in tasks]}"
        )
    ctr, cvr, ctcvr = tasks
    _check_entire_space("build_esmm", [ctr, ctcvr])
    _check_binary("build_esmm", tasks)
    ctr = dataclasses.replace(ctr, loss_weight=float(ctr_loss_weight))
    cvr = dataclasses.replace(cvr, loss_weight=float(cvr_loss_weight))
    ctcvr = dataclasses.replace(ctcvr, loss_weight=float(ctcvr_loss_weight))
    inputs = spec.inputs(lookup=lookup)
    x = FeatureEmbedding(spec, lookup=lookup, name="features")(inputs)
    views = _views(switcher, x, 2, "build_esmm")
    p_ctr = Tower(list(ctr.tower_units), dropout=tower_dropout, name=f"tower_{ctr.name}")(views[0])
    p_cvr = Tower(list(cvr.tower_units), dropout=tower_dropout, name=f"tower_{cvr.name}")(views[1])
    p_ctcvr = EntireSpaceProduct(name=f"product_{ctcvr.name}")([p_ctr, p_cvr])  # ESMM eq 2
    metadata = {
        "model": "esmm",
        "family": "esmm",
        "entire_space_task": ctcvr.name,  # pCTCVR = pCTR x pCVR: the default fusion ranks by it alone
        "hparams": {
            "ctr_loss_weight": float(ctr_loss_weight),
            "cvr_loss_weight": float(cvr_loss_weight),
            "ctcvr_loss_weight": float(ctcvr_loss_weight),
        },
    }
    return MultiTaskModel(
        inputs=inputs,
        outputs={ctr.name: p_ctr, cvr.name: p_cvr, ctcvr.name: p_ctcvr},
        tasks=[ctr, cvr, ctcvr],
        metadata=metadata,
        name=name,
    )


def build_aitm(
    spec: FeatureSpec,
    tasks,
    switcher: Switcher | None = None,
    bottom_units=(128, 64, 32),
    calibrator_weight: float = 0.6,
    lookup: bool = True,
    tower_dropout: float = 0.0,
    name: str = "aitm",
) -> MultiTaskModel:
    """AITM (Xi et al., KDD'21): funnel steps in order, each attending to the step before.

    Every task t gets its own bottom `q_t` (by default one `SingleTask` bank of
    `bottom_units`), the `AITM` layer transfers information from step t-1 to step t
    (eq 2-5), each `Tower` predicts `ŷ_t` from `z_t`, and `BehaviourCalibration` adds
    `α · sum_t max(ŷ_t - ŷ_{t-1}, 0)` to the loss (eq 7). Train every step over the
    entire space (click, then purchase-on-impression), as the paper does.

    Args:
        spec: an adapted `FeatureSpec`.
        tasks: the funnel's Tasks, earliest first (>= 2), all binary.
        switcher: optional `Switcher` with `len(tasks)` outputs of one width, replacing
            the default per-task bottoms.
        bottom_units: hidden sizes of the default per-task bottoms.
        calibrator_weight: float. α of the calibrator loss. Defaults to 0.6.

    Returns a `MultiTaskModel` with one head per task.
    """
    tasks = check_tasks(tasks)
    if len(tasks) < 2:
        raise ValueError(f"build_aitm needs >= 2 funnel steps. Received: {[t.name for t in tasks]}")
    _check_binary("build_aitm", tasks)
    inputs = spec.inputs(lookup=lookup)
    x = FeatureEmbedding(spec, lookup=lookup, name="features")(inputs)
    if switcher is None:
        switcher = SingleTask(len(tasks), units=list(bottom_units), name="bottoms")
    q = _views(switcher, x, len(tasks), "build_aitm")
    z = AITM(name="aitm")(q)
    probs = [
        Tower(list(t.tower_units), dropout=tower_dropout, name=f"tower_{t.name}")(z_t)
        for t, z_t in zip(tasks, z)
    ]
    probs = BehaviourCalibration(calibrator_weight, name="calibrator")(probs)
    metadata = {
        "model": "aitm",
        "family": "aitm",
        "entire_space_task": tasks[-1].name,  # the last step is trained over every impression
        "hparams": {
            "bottom_units": [int(u) for u in bottom_units],
            "calibrator_weight": float(calibrator_weight),
        },
    }
    return MultiTaskModel(
        inputs=inputs,
        outputs={t.name: p for t, p in zip(tasks, probs)},
        tasks=tasks,
        metadata=metadata,
        name=name,
    )


def _views(switcher, x, count: int, owner: str):
    if switcher is None:
        return [x] * count
    if not isinstance(switcher, Switcher):
        raise TypeError(f"{owner} needs a tfmtl Switcher; got {type(switcher).__name__}.")
    if switcher.num_outputs != count:
        raise ValueError(
            f"{owner}: switcher '{switcher.name}' has num_outputs={switcher.num_outputs}; it needs {count}."
        )
    out = switcher(x)
    return out[0] if switcher.return_gates else out


def _check_entire_space(owner: str, tasks) -> None:
    for t in tasks:
        if t.sample_space is not None:
            raise ValueError(
                f"{owner}: task '{t.name}' has sample_space={t.sample_space!r}, but it is trained over the entire "
                "impression space. Give it no sample_space."
            )


def _check_binary(owner: str, tasks) -> None:
    for t in tasks:
        if t.kind != "binary":
            raise ValueError(
                f"{owner}: task '{t.name}' is {t.kind!r}; funnel steps are binary probabilities."
            )
