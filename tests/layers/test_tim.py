"""TIM (DTRN §3.3) and its HyperNetwork against a loop-by-loop numpy reference of eq 2-8."""

import keras
import numpy as np
import pytest

from tfmtl.layers.hypernetwork import HyperNetwork
from tfmtl.layers.tim import TIM

T, M, B, L, D, H, F, C, HU = 2, 2, 3, 4, 4, 2, 6, 3, 5


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    target = rng.normal(size=(B, D)).astype("float32")
    seqs = [rng.normal(size=(B, L, D)).astype("float32") for _ in range(M)]
    masks = [np.ones((B, L), "float32") for _ in range(M)]
    masks[0][1, 2:] = 0  # row 1: two items, two pads
    masks[1][2, :] = 0  # row 2: empty sequence
    masks[1][0, 0] = 0  # padding in front is masked too
    return target, seqs, masks


def _tim(injection="ln", seed=1):
    tim = TIM(T, M, num_heads=H, ffn_units=F, hyper_units=HU, type_dim=C, injection=injection)
    tim.build((None, D), [(None, L, D)] * M, [(None, L)] * M)
    rng = np.random.default_rng(seed)
    for w in tim.weights:
        w.assign(rng.normal(scale=0.5, size=w.shape).astype("float32"))
    return tim


def _w(tim):
    return {w.path.split("/", 1)[1]: np.asarray(w) for w in tim.weights}


def _hyper(w, name, cond):
    """Eq 2: generator g's two-layer MLP, ReLU hidden, linear output -> [G, out]."""
    k1, b1 = w[f"hyper_{name}/hidden/kernel_0"], w[f"hyper_{name}/hidden/bias_0"]
    k2, b2 = w[f"hyper_{name}/out/kernel_0"], w[f"hyper_{name}/out/bias_0"]
    return np.stack(
        [np.maximum(cond @ k1[g] + b1[g], 0) @ k2[g] + b2[g] for g in range(k1.shape[0])]
    )


def _ln(x, gamma, beta, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    sd = np.sqrt(((x - mu) ** 2).mean(-1, keepdims=True) + eps)
    return gamma * (x - mu) / sd + beta


def _mha(q_in, kv, mask, wq, wk, wv, wo):
    """Eq 3-4 for one row: heads by slicing, masked keys dropped."""
    keep = mask > 0
    heads = []
    for i in range(H):
        s = slice(i * D // H, (i + 1) * D // H)
        q, k, v = q_in @ wq[:, s], kv @ wk[:, s], kv @ wv[:, s]
        if not keep.any():
            heads.append(np.zeros((q_in.shape[0], D // H)))
            continue
        scores = q @ k[keep].T / np.sqrt(D // H)
        a = np.exp(scores - scores.max(-1, keepdims=True))
        heads.append((a / a.sum(-1, keepdims=True)) @ v[keep])
    return np.concatenate(heads, -1) @ wo


def _reference(tim, target, seqs, masks):
    w, sites = _w(tim), tim.injection
    out = np.zeros((B, T, M * D))
    for t in range(T):
        for b in range(M):
            cond = np.concatenate([w["task_embedding"][t], w["behaviour_embedding"][b]])
            gen = {
                n: _hyper(w, n, cond)
                for n in ("gamma", "beta", "qkv", "ffn1", "ffn2")
                if f"hyper_{n}/out/bias_0" in w
            }
            blocks = []
            for j, block in enumerate(("encoder", "decoder")):
                p = {m: w[f"{block}_w{m}"] for m in "qkvo"}
                if "qkv" in sites:  # §5.2.2: W ⊙ (1 + ΔW)
                    for i, m in enumerate("qkv"):
                        p[m] = p[m] * (1 + gen["qkv"][3 * j + i].reshape(D, D))
                w1, b1 = w[f"{block}_ffn_w1"], w[f"{block}_ffn_b1"]
                w2, b2 = w[f"{block}_ffn_w2"], w[f"{block}_ffn_b2"]
                if "ffn1" in sites:
                    g = gen["ffn1"][j]
                    w1, b1 = w1 * (1 + g[: D * F].reshape(D, F)), b1 * (1 + g[D * F :])
                if "ffn2" in sites:
                    g = gen["ffn2"][j]
                    w2, b2 = w2 * (1 + g[: F * D].reshape(F, D)), b2 * (1 + g[F * D :])
                p["ffn"] = lambda x, w1=w1, b1=b1, w2=w2, b2=b2: (
                    np.maximum(x @ w1 + b1, 0) @ w2 + b2
                )
                blocks.append(p)

            def cln(x, pos):  # eq 6
                g, be = w["ln_gamma"][pos], w["ln_beta"][pos]
                if "ln" in sites:
                    g, be = (1 + gen["gamma"][pos]) * g, gen["beta"][pos] + be
                return _ln(x, g, be)

            for r in range(B):
                x, mask, e, (enc, dec) = seqs[b][r], masks[b][r], target[r : r + 1], blocks
                o0 = cln(x + _mha(x, x, mask, enc["q"], enc["k"], enc["v"], enc["o"]), 0)  # eq 7
                o_enc = cln(o0 + enc["ffn"](o0), 1)
                o3 = cln(e + _mha(e, o_enc, mask, dec["q"], dec["k"], dec["v"], dec["o"]), 2)
                out[r, t, b * D : (b + 1) * D] = cln(o3 + dec["ffn"](o3), 3)[0]
    return out


@pytest.mark.parametrize("injection", ["ln", "qkv", "ffn1", "ffn2", ["ln", "qkv"]])
def test_tim_matches_numpy_reference(injection):
    tim = _tim(injection)
    target, seqs, masks = _inputs()
    got = np.asarray(tim(target, seqs, masks))
    assert got.shape == (B, T, M * D)
    np.testing.assert_allclose(got, _reference(tim, target, seqs, masks), atol=1e-5)


def test_hypernetwork_shapes_and_numbers():
    hyper = HyperNetwork(num_generators=4, units=HU, output_dim=7)
    cond = np.random.default_rng(0).normal(size=(6, 2 * C)).astype("float32")
    out = np.asarray(hyper(cond))
    assert out.shape == (6, 4, 7)
    w = {v.path.split("/", 1)[1]: np.asarray(v) for v in hyper.weights}
    w = {f"hyper_x/{k}": v for k, v in w.items()}
    ref = np.stack([_hyper(w, "x", c) for c in cond])
    np.testing.assert_allclose(out, ref, atol=1e-5)


def test_generated_parameter_shapes():
    tim = _tim(["ln", "qkv", "ffn1", "ffn2"])
    gen = {k: tuple(np.asarray(v).shape) for k, v in tim.generated().items()}
    assert gen == {
        "gamma": (T, M, 4, D),
        "beta": (T, M, 4, D),
        "qkv": (T, M, 6, D * D),
        "ffn1": (T, M, 2, D * F + F),
        "ffn2": (T, M, 2, F * D + D),
    }


def test_task_embedding_changes_its_own_gamma_beta_and_interest_only():
    tim = _tim("ln")
    target, seqs, masks = _inputs()
    before, gen_before = (
        np.asarray(tim(target, seqs, masks)),
        {k: np.asarray(v) for k, v in tim.generated().items()},
    )
    emb = np.asarray(tim.task_embedding).copy()
    emb[0] += 1.0
    tim.task_embedding.assign(emb)
    after, gen_after = (
        np.asarray(tim(target, seqs, masks)),
        {k: np.asarray(v) for k, v in tim.generated().items()},
    )
    for name in ("gamma", "beta"):
        assert not np.allclose(gen_before[name][0], gen_after[name][0]), name
        np.testing.assert_array_equal(gen_before[name][1], gen_after[name][1])
    assert np.abs(before[:, 0] - after[:, 0]).max() > 1e-3
    np.testing.assert_array_equal(before[:, 1], after[:, 1])


def test_transformer_weights_are_one_set_shared_by_every_pair():
    shapes = {}
    for num_tasks in (1, 2, 5):
        tim = TIM(num_tasks, M, num_heads=H, ffn_units=F, hyper_units=HU, type_dim=C)
        tim.build((None, D), [(None, L, D)] * M, [(None, L)] * M)
        shapes[num_tasks] = {w.path.split("/", 1)[1]: tuple(w.shape) for w in tim.weights}
        assert shapes[num_tasks].pop("task_embedding") == (num_tasks, C)
    assert shapes[1] == shapes[2] == shapes[5]  # nothing but the task embedding grows with T
    # and every task's interest is computed from the same encoder weight
    import tensorflow as tf

    tim = _tim("ln")
    target, seqs, masks = _inputs()
    wq = next(w for w in tim.weights if w.path.endswith("encoder_wq"))
    for t in range(T):
        with tf.GradientTape() as tape:
            y = keras.ops.sum(tim(target, seqs, masks)[:, t])
        assert float(tf.reduce_max(tf.abs(tape.gradient(y, wq.value)))) > 0


def test_padded_positions_do_not_change_the_output():
    tim = _tim(["ln", "qkv"])
    target, seqs, masks = _inputs()
    before = np.asarray(tim(target, seqs, masks))
    noisy = [
        np.where(m[..., None] > 0, s, 100.0 * np.random.default_rng(3).normal(size=s.shape)).astype(
            "float32"
        )
        for s, m in zip(seqs, masks)
    ]
    np.testing.assert_allclose(np.asarray(tim(target, noisy, masks)), before, atol=1e-6)
    # and a sequence that is ALL padding reads as no history, whatever its padding holds
    assert masks[1][2].sum() == 0


def test_config_round_trip():
    tim = TIM(
        3,
        2,
        num_heads=4,
        ffn_units=16,
        hyper_units=8,
        type_dim=5,
        injection=["qkv", "ffn2"],
        name="t",
    )
    clone = TIM.from_config(tim.get_config())
    assert clone.get_config() == tim.get_config()


@pytest.mark.parametrize(
    "kwargs, culprit",
    [
        ({"injection": "attention"}, "injection"),
        ({"num_heads": 0}, "num_heads"),
        ({"num_tasks": 0}, "num_tasks"),
    ],
)
def test_bad_arguments_name_the_culprit(kwargs, culprit):
    args = {"num_tasks": 2, "num_behaviours": 2, **kwargs}
    with pytest.raises(ValueError, match=culprit):
        TIM(**args)


def test_build_errors_name_the_culprit():
    with pytest.raises(ValueError, match="num_heads"):
        TIM(2, 1, num_heads=3).build((None, 4), [(None, 5, 4)], [(None, 5)])
    with pytest.raises(ValueError, match="widths"):
        TIM(2, 1).build((None, 4), [(None, 5, 6)], [(None, 5)])
    with pytest.raises(ValueError, match="num_behaviours=2"):
        TIM(2, 2).build((None, 4), [(None, 5, 4)], [(None, 5)])
