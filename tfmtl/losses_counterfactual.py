"""ESCM²'s counterfactual CVR risks over the entire impression space (Wang et al., SIGIR'22).

With `o_i` the click, `r_i` the conversion, `ô_i` the propensity (the CTR tower's pCTR,
clipped to `[clip, 1]` and held constant) and `e_i = CE(r_i, pCVR_i)` the CVR error:

- IPS (ESCM²'s IPS counterfactual risk `R_IPS`):
  `R_IPS = 1/|D| sum_i o_i e_i / ô_i`;
- DR (ESCM²'s doubly robust risk `R_DR`): `R_DR = 1/|D| sum_i [ê_i + o_i (e_i - ê_i) / ô_i]`,
  and the imputation tower's loss `L_IMP` `L_IMP = 1/|D| sum_i o_i (e_i - ê_i)^2 / ô_i`.

`D` is the entire space: every impression with a click label. Labels follow `Task.labels`:
the click label is NaN outside the space, the conversion label NaN where it is not observed
(unclicked impressions); neither NaN counts (PLE eq 9's masking, with `ops.where`).

Differs from the paper: `ê_i = CE(r̃_i, pCVR_i)` where the imputation tower predicts an
imputed conversion `r̃_i` (Wang et al., ICML'19 DR-JL's error imputation). An imputation
tower regressing `ê_i` directly leaves `R_DR` linear in `ê_i`, so either its gradient
drives `ê_i` to -inf on unclicked impressions, or (held constant) `R_DR` has exactly the
IPS gradient; through `CE(r̃_i, pCVR_i)` the unclicked impressions teach the CVR tower.

Example:

>>> click = np.array([1.0, 0.0, 1.0, 0.0], "float32")
>>> conversion = np.array([1.0, np.nan, 0.0, np.nan], "float32")
>>> p_ctr = np.array([0.5, 0.1, 0.25, 0.2], "float32")
>>> p_cvr = np.array([0.5, 0.5, 0.5, 0.5], "float32")
>>> round(float(ips_risk(click, conversion, p_ctr, p_cvr)), 4)  # (ln2/0.5 + ln2/0.25) / 4
1.0397
"""

from __future__ import annotations

from keras import ops

RISKS = ("dr", "ips")
_EPS = 1e-7


def check_risk(risk: str, owner: str = "ESCM2") -> str:
    """`risk` itself when it is `"dr"` or `"ips"`, else a one-line ValueError."""
    if risk not in RISKS:
        raise ValueError(
            f"{owner}: risk must be one of {', '.join(map(repr, RISKS))}. Received: risk={risk!r}"
        )
    return risk


def cross_entropy(labels, probs):
    """Per-sample binary cross-entropy `CE(r, p)` `[B]`, `p` clipped to `[1e-7, 1 - 1e-7]`."""
    p = ops.clip(ops.cast(probs, "float32"), _EPS, 1.0 - _EPS)
    return -(labels * ops.log(p) + (1.0 - labels) * ops.log(1.0 - p))


def propensity(p_ctr, clip: float = 0.05):
    """`ô = clip(stop_gradient(pCTR), clip, 1)` `[B]`: a constant weight, never trained."""
    p = ops.stop_gradient(ops.reshape(ops.cast(p_ctr, "float32"), (-1,)))
    return ops.clip(p, float(clip), 1.0)


def observed(click, conversion):
    """`(space, o, r)` `[B]` each: in the entire space, clicked and labelled, the conversion."""
    click = ops.reshape(ops.cast(click, "float32"), (-1,))
    conversion = ops.reshape(ops.cast(conversion, "float32"), (-1,))
    space = ops.isfinite(click)
    seen = ops.logical_and(ops.logical_and(space, click > 0.5), ops.isfinite(conversion))
    r = ops.where(seen, conversion, 0.0)
    return ops.cast(space, "float32"), ops.cast(seen, "float32"), r


def ips_risk(click, conversion, p_ctr, p_cvr, clip: float = 0.05):
    """ESCM² `R_IPS`: `R_IPS = 1/|D| sum_i o_i CE(r_i, pCVR_i) / ô_i` (a scalar)."""
    space, o, r = observed(click, conversion)
    e = cross_entropy(r, ops.reshape(p_cvr, (-1,)))
    terms = ops.where(o > 0.0, e / propensity(p_ctr, clip), 0.0)
    return ops.divide_no_nan(ops.sum(terms), ops.sum(space))


def dr_risk(click, conversion, p_ctr, p_cvr, imputed, clip: float = 0.05):
    """ESCM² `R_DR`: `R_DR = 1/|D| sum_i [ê_i + o_i (e_i - ê_i) / ô_i]` (a scalar).

    `imputed`: the imputation tower's `r̃` `[B]`, held constant here (it learns from
    `imputation_loss` only); `ê_i = CE(r̃_i, pCVR_i)` carries the CVR tower's gradient.
    """
    space, o, r = observed(click, conversion)
    q = ops.reshape(p_cvr, (-1,))
    e = cross_entropy(r, q)
    e_hat = cross_entropy(ops.stop_gradient(_flat(imputed)), q)
    correction = ops.where(o > 0.0, (e - e_hat) / propensity(p_ctr, clip), 0.0)
    terms = ops.where(space > 0.0, e_hat + correction, 0.0)
    return ops.divide_no_nan(ops.sum(terms), ops.sum(space))


def imputation_loss(click, conversion, p_ctr, p_cvr, imputed, clip: float = 0.05):
    """ESCM² `L_IMP`: `L_IMP = 1/|D| sum_i o_i (e_i - ê_i)^2 / ô_i` (a scalar).

    Trains the imputation tower only: `pCVR` (so `e_i`) is held constant, as in DR-JL's
    alternating updates, made simultaneous by the stop-gradient.
    """
    space, o, r = observed(click, conversion)
    q = ops.stop_gradient(ops.reshape(p_cvr, (-1,)))
    gap = cross_entropy(r, q) - cross_entropy(_flat(imputed), q)
    terms = ops.where(o > 0.0, ops.square(gap) / propensity(p_ctr, clip), 0.0)
    return ops.divide_no_nan(ops.sum(terms), ops.sum(space))


def counterfactual_risk(risk: str, click, conversion, p_ctr, p_cvr, imputed=None, clip=0.05):
    """The CVR risk `R_cvr` by name: `{"ips": R_IPS}` or `{"dr": R_DR, "imputation": L_IMP}`."""
    if check_risk(risk) == "ips":
        return {"ips": ips_risk(click, conversion, p_ctr, p_cvr, clip)}
    if imputed is None:
        raise ValueError("counterfactual_risk: risk='dr' needs the imputation tower's `imputed`.")
    return {
        "dr": dr_risk(click, conversion, p_ctr, p_cvr, imputed, clip),
        "imputation": imputation_loss(click, conversion, p_ctr, p_cvr, imputed, clip),
    }


def _flat(x):
    return ops.reshape(ops.cast(x, "float32"), (-1,))
