"""Gradient-boosted trees on Census-Income (KDD): the reference the networks are measured against.

scikit-learn's HistGradientBoostingClassifier per task, on the same split, features and labels
as `load_census` (the task's source column and the instance weight dropped). Categorical
columns are ordinal codes of the train split's vocabulary, declared categorical to the trees;
dense columns are raw. Iterations stop on the validation split's log-loss (20 without gain).

    TFMTL_DATA_DIR=../shared/data python benchmarks/census_gbdt.py --protocol published --seeds 3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from tfmtl.data import load_census
from tfmtl.features import FeatureSpec


def matrix(split, spec) -> np.ndarray:
    """Features as one float matrix: dense values raw, categoricals as vocabulary codes.

    An out-of-vocabulary categorical (code -1) becomes NaN.
    """
    cols = []
    for f in spec:
        values = split.features[f.name]
        if f.kind == "dense":
            cols.append(values.astype(np.float64))
        else:
            codes = FeatureSpec([f]).encode({f.name: values})[f.name].astype(np.float64) - 1
            cols.append(np.where(codes < 0, np.nan, codes))
    return np.stack(cols, axis=1)


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--protocol", default=None, choices=("published", "test-only"))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--learning-rate", type=float, default=0.1)
    p.add_argument("--max-iter", type=int, default=1000)
    p.add_argument("--max-leaf-nodes", type=int, default=31)
    args = p.parse_args()
    data = load_census(protocol=args.protocol)
    print(f"[gbdt] {data.description}", flush=True)
    x = {s: matrix(data[s], data.spec) for s in ("train", "validation", "test")}
    categorical = np.asarray([f.kind == "categorical" for f in data.spec])
    rows = ["| task | test AUC (mean ± std) | iterations | seconds |", "|---|---|---|---|"]
    for task in data.tasks:
        y = {s: data[s].labels[task.name] for s in x}
        aucs, iters, start = [], [], time.perf_counter()
        for seed in range(args.seeds):
            model = HistGradientBoostingClassifier(
                learning_rate=args.learning_rate,
                max_iter=args.max_iter,
                max_leaf_nodes=args.max_leaf_nodes,
                categorical_features=categorical,
                early_stopping=True,
                n_iter_no_change=20,
                scoring="loss",
                validation_fraction=None,
                random_state=seed,
            )
            # stop on our validation split (X_val/y_val), not on a random tenth of the train split
            model.fit(x["train"], y["train"], X_val=x["validation"], y_val=y["validation"])
            aucs.append(roc_auc_score(y["test"], model.predict_proba(x["test"])[:, 1]))
            iters.append(model.n_iter_)
            print(
                f"[gbdt] {task.name} seed {seed}: AUC {aucs[-1]:.4f}, {model.n_iter_} iterations",
                flush=True,
            )
        rows.append(
            f"| {task.name} | {np.mean(aucs):.4f} ± {np.std(aucs):.4f} | "
            f"{'/'.join(map(str, iters))} | {(time.perf_counter() - start) / args.seeds:.0f} |"
        )
    print(
        "\n".join(
            [
                f"HistGradientBoosting on {data.description}.",
                f"Run: `python benchmarks/census_gbdt.py --protocol {args.protocol} "
                f"--seeds {args.seeds} --learning-rate {args.learning_rate} "
                f"--max-iter {args.max_iter} --max-leaf-nodes {args.max_leaf_nodes}`.",
                "",
                *rows,
            ]
        )
    )


if __name__ == "__main__":
    main()
