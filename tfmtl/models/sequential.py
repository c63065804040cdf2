"""Builders for sequentially dependent tasks (a click -> conversion funnel): ESMM and AITM.

Example:

>>> data = tfmtl.data.load_dataset("funnel", rows=2_000)
>>> ctr, cvr, ctcvr = data.tasks
>>> esmm = build_esmm(data.spec, [ctr, cvr, ctcvr])          # pCTCVR = pCTR × pCVR
>>> aitm = build_aitm(data.spec, [ctr, ctcvr], bottoms=[8])  # click -> purchase, entire space
>>> sorted(esmm.output), sorted(aitm.output)
(['ctcvr', 'ctr', 'cvr'], ['ctcvr', 'ctr'])
"""

from __future__ import annotations

import dataclasses

from tfmtl.features import FeatureSpec
from tfmtl.layers.aitm import AITM, BehaviourCalibration
from tfmtl.layers.esmm import EntireSpaceProduct
from tfmtl.layers.shared_bottom import SingleTask
from tfmtl.layers.switcher import Switcher
from tfmtl.layers.towers import Tower
from tfmtl.models.multitask_model import MultiTaskModel
from tfmtl.models.stages import check_switcher, embed, switch
from tfmtl.tasks import check_tasks


def build_esmm(
    spec: FeatureSpec,
    tasks,
    switcher: Switcher | None = None,
    loss_weights=(1.0, 0.0, 1.0),
    lookup: bool = True,
    tower_dropout: float = 0.0,
    name: str = "esmm",
) -> MultiTaskModel:
    """ESMM (Ma et al., SIGIR'18): CTR and CVR towers on shared embeddings, pCTCVR = pCTR × pCVR.

    `L = sum_i CE(y_i, pCTR_i) + sum_i CE(y_i & z_i, pCTCVR_i)` over ALL impressions (ESMM
    eq 3): the CVR tower learns only through the product, so it is fitted on the entire
    space rather than on clicked samples (sample selection bias): `loss_weights=(1, 0, 1)`.
    The CVR head is still an output (the model's CVR prediction), scored on its task's
    sample space. `loss_weights=(1, 1, 0)` gives the naive baseline: the same network with
    the CVR head trained on clicked samples only (sharing the embeddings with the CTR
    task); `(0, 1, 0)` leaves a CVR-only model trained on clicks (ESMM's BASE).

    Args:
        spec: an adapted `FeatureSpec`.
        tasks: `[ctr, cvr, ctcvr]` Tasks, in this order. ctr and ctcvr must cover the entire
            space (no `sample_space`); cvr's sample space is normally `"click == 1"`.
        switcher: `Switcher`. Optional, with 2 outputs, between the embedding and the two
            towers (e.g. `make_switcher("mmoe", 2)`); without one both towers read the
            shared embedding, as in the paper.
        loss_weights: 3 floats. The ctr, cvr and ctcvr loss weights, replacing the tasks'.
            Defaults to `(1.0, 0.0, 1.0)`, ESMM's.
        lookup: bool. Raw values looked up in the model. Defaults to `True`.
        tower_dropout: float. Dropout in both towers. Defaults to `0.0`.
        name: str. The model's name. Defaults to `"esmm"`.

    Returns:
        A `MultiTaskModel` with heads `{ctr, cvr, ctcvr}` `[B]`, named after the tasks.
    """
    ctr, cvr, ctcvr = _funnel_tasks(tasks, loss_weights, "build_esmm")
    weights = [ctr.loss_weight, cvr.loss_weight, ctcvr.loss_weight]
    inputs, x = embed(spec, lookup)
    views = _views(switcher, x, 2, "build_esmm")
    p_ctr = Tower(list(ctr.tower_units), dropout=tower_dropout, name=f"tower_{ctr.name}")(views[0])
    p_cvr = Tower(list(cvr.tower_units), dropout=tower_dropout, name=f"tower_{cvr.name}")(views[1])
    p_ctcvr = EntireSpaceProduct(name=f"product_{ctcvr.name}")([p_ctr, p_cvr])  # ESMM eq 2
    metadata = {
        "model": "esmm",
        "family": "esmm",
        # pCTCVR = pCTR x pCVR: the default fusion ranks by it alone
        "entire_space_task": ctcvr.name,
        "hparams": {"loss_weights": weights},
    }
    return MultiTaskModel(
        inputs=inputs,
        outputs={ctr.name: p_ctr, cvr.name: p_cvr, ctcvr.name: p_ctcvr},
        tasks=[ctr, cvr, ctcvr],
        metadata=metadata,
        name=name,
    )


def _funnel_tasks(tasks, loss_weights, owner: str) -> list:
    """`[ctr, cvr, ctcvr]` checked (binary; ctr and ctcvr over every impression), reweighted."""
    tasks = check_tasks(tasks)
    if len(tasks) != 3:
        raise ValueError(
            f"{owner} needs tasks [ctr, cvr, ctcvr]. "
            f"Received {len(tasks)}: {[t.name for t in tasks]}"
        )
    _check_entire_space(owner, [tasks[0], tasks[2]])
    _check_binary(owner, tasks)
    weights = [float(w) for w in loss_weights]
    if len(weights) != 3:
        raise ValueError(
            f"{owner} needs 3 loss_weights (ctr, cvr, ctcvr). Received: {list(loss_weights)}"
        )
    return [dataclasses.replace(t, loss_weight=w) for t, w in zip(tasks, weights)]


def build_aitm(
    spec: FeatureSpec,
    tasks,
    bottoms: Switcher | list = (128, 64, 32),
    calibrator_weight: float = 0.6,
    lookup: bool = True,
    tower_dropout: float = 0.0,
    name: str = "aitm",
) -> MultiTaskModel:
    """AITM (Xi et al., KDD'21): funnel steps in order, each attending to the step before.

    Every task t gets its own bottom `q_t` (by default one `SingleTask` bank of
    `bottoms` units), the `AITM` layer transfers information from step t-1 to step t
    (eq 2-5), each `Tower` predicts `ŷ_t` from `z_t`, and `BehaviourCalibration` adds
    `α · sum_t max(ŷ_t - ŷ_{t-1}, 0)` to the loss (eq 7). Train every step over the
    entire space (click, then purchase-on-impression), as the paper does.

    Args:
        spec: an adapted `FeatureSpec`.
        tasks: the funnel's Tasks, earliest first (>= 2), all binary.
        bottoms: `Switcher` or list of int. A switcher with `len(tasks)` outputs of one
            width, or the hidden sizes of the per-task `SingleTask` bottoms. Defaults to
            `(128, 64, 32)`.
        calibrator_weight: float. α of the calibrator loss. Defaults to `0.6`.
        lookup: bool. Raw values looked up in the model. Defaults to `True`.
        tower_dropout: float. Dropout in every tower. Defaults to `0.0`.
        name: str. The model's name. Defaults to `"aitm"`.

    Returns:
        A `MultiTaskModel` with one head `[B]` per task.
    """
    tasks = check_tasks(tasks)
    if len(tasks) < 2:
        raise ValueError(f"build_aitm needs >= 2 funnel steps. Received: {[t.name for t in tasks]}")
    _check_binary("build_aitm", tasks)
    inputs, x = embed(spec, lookup)
    units = None if isinstance(bottoms, Switcher) else [int(u) for u in bottoms]
    if units is not None:
        bottoms = SingleTask(len(tasks), units=units, name="bottoms")
    q = _views(bottoms, x, len(tasks), "build_aitm")
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
        "hparams": {"bottom_units": units, "calibrator_weight": float(calibrator_weight)},
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
    return switch(check_switcher(switcher, count, owner), x)


def _check_entire_space(owner: str, tasks) -> None:
    for t in tasks:
        if t.sample_space is not None:
            raise ValueError(
                f"{owner}: task '{t.name}' has sample_space={t.sample_space!r}, but it is trained "
                "over the entire "
                "impression space. Give it no sample_space."
            )


def _check_binary(owner: str, tasks) -> None:
    for t in tasks:
        if t.kind != "binary":
            raise ValueError(
                f"{owner}: task '{t.name}' is {t.kind!r}; funnel steps are binary probabilities."
            )
