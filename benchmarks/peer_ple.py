"""The peers' PLE on the shared workload, timed exactly as ../shared/bench/peer_*.py time MMoE.

    .peers/VTF/bin/python benchmarks/peer_ple.py deepctr        # (cwd ../shared/bench)
    .peers/VPT/bin/python benchmarks/peer_ple.py torch-rechub

PLE here: 2 levels, 2 task-specific + 4 shared experts (8 a level, as the workload's MMoE),
experts (256, 128) at every level, towers (64,). Prints one JSON line like the shared scripts.
Runs in the peer virtualenvs (benchmarks/peer_envs.py), never in tfmtl's own.
"""

import json
import os
import sys
import time

import numpy as np
import workload as W  # ../shared/bench on PYTHONPATH

SPECIFIC, SHARED, LEVELS = 2, 4, 2


def deepctr():
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tensorflow as tf
    from deepctr.feature_column import DenseFeat, SparseFeat
    from deepctr.models import PLE

    vocab, cats, dense, y1, y2 = W.make()
    cols = [
        SparseFeat(f"c{i}", vocabulary_size=int(v), embedding_dim=W.EMB)
        for i, v in enumerate(vocab)
    ]
    cols += [DenseFeat(f"d{i}", 1) for i in range(W.N_DENSE)]
    m = PLE(
        cols,
        shared_expert_num=SHARED,
        specific_expert_num=SPECIFIC,
        num_levels=LEVELS,
        expert_dnn_hidden_units=W.EXPERT_UNITS,
        tower_dnn_hidden_units=W.TOWER,
        task_types=("binary", "binary"),
        task_names=("t1", "t2"),
    )
    m.compile("adam", loss=["binary_crossentropy", "binary_crossentropy"])
    X = {f"c{i}": cats[:, i].astype(np.int32) for i in range(W.N_CAT)}
    X.update({f"d{i}": dense[:, i] for i in range(W.N_DENSE)})

    class T(tf.keras.callbacks.Callback):
        def on_train_batch_end(self, b, logs=None):
            if b == W.STEPS_WARM - 1:
                self.t0 = time.perf_counter()

        def on_epoch_end(self, ep, logs=None):
            self.rate = W.STEPS_TIMED * W.BATCH / (time.perf_counter() - self.t0)

    rates = []
    for _ in range(3):
        cb = T()
        m.fit(X, [y1, y2], batch_size=W.BATCH, epochs=1, verbose=0, shuffle=False, callbacks=[cb])
        rates.append(cb.rate)
    return "deepctr-0.9.4", sorted(rates)


def rechub():
    import torch
    from torch_rechub.basic.features import DenseFeature, SparseFeature
    from torch_rechub.models.multi_task import PLE

    vocab, cats, dense, y1, y2 = W.make()
    feats = [
        SparseFeature(f"c{i}", vocab_size=int(v), embed_dim=W.EMB) for i, v in enumerate(vocab)
    ]
    feats += [DenseFeature(f"d{i}") for i in range(W.N_DENSE)]
    model = PLE(
        feats,
        ["classification", "classification"],
        n_level=LEVELS,
        n_expert_specific=SPECIFIC,
        n_expert_shared=SHARED,
        expert_params={"dims": list(W.EXPERT_UNITS)},
        tower_params_list=[{"dims": list(W.TOWER)}] * 2,
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    X = {f"c{i}": torch.from_numpy(cats[:, i]) for i in range(W.N_CAT)}
    X.update({f"d{i}": torch.from_numpy(dense[:, i]) for i in range(W.N_DENSE)})
    Y = torch.from_numpy(np.stack([y1, y2], 1))
    bce = torch.nn.BCELoss()

    def epoch():
        t0 = None
        for s in range(W.STEPS_WARM + W.STEPS_TIMED):
            if s == W.STEPS_WARM:
                t0 = time.perf_counter()
            sl = slice(s * W.BATCH, (s + 1) * W.BATCH)
            p = model({k: v[sl] for k, v in X.items()})
            loss = bce(p[:, 0], Y[sl, 0]) + bce(p[:, 1], Y[sl, 1])
            opt.zero_grad()
            loss.backward()
            opt.step()
        return W.STEPS_TIMED * W.BATCH / (time.perf_counter() - t0)

    model.train()
    return "torch-rechub-0.9.0", sorted(epoch() for _ in range(3))


if __name__ == "__main__":
    impl, rates = {"deepctr": deepctr, "torch-rechub": rechub}[sys.argv[1]]()
    print(
        json.dumps(
            {
                "impl": impl,
                "model": "ple",
                "samples_per_s": {"median": rates[1], "min": rates[0], "max": rates[2]},
            }
        )
    )
