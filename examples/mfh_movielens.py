"""MFH paper Table 6 on MovieLens: {MMoE, PLE} switchers x {flat 2-task, flat 6-task, H-MTL, MFH}.

Users fall in three activity groups (new 20-36, low 37-99, high >= 100 ratings; MFH
§5.2.2); tasks ctr (rating >= 4, AUC) and rating (MSE). The flat 2-task model serves every
group with the same two heads; the 6-task models (flat, H-MTL over behaviour -> group, MFH
over both facets) have one head per (behaviour, group) and each test row is scored by its own
group's heads (MFH §5.1.4's serving rule). Towers are (64, 32) for every task (§5.2.3;
`--heterogeneous` uses §5.1.2's (128, 64) for high-activity tasks). The split is
`load_movielens`' random 8:1:1 (seed 0); every seed re-initialises and re-shuffles training.

    python examples/mfh_movielens.py --quick                     # seconds: proves it runs
    python examples/mfh_movielens.py --seeds 3 --epochs 4 --out examples/results/mfh_movielens.md
    python examples/mfh_movielens.py --inclusion paper           # MFH §5.1.4 group inclusion

Prints (and writes with `--out`) a Markdown table: mean ± std over seeds per group, with
the change relative to the flat 2-task model of the same switcher in brackets.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

MACROS = ("flat2", "flat6", "hmtl", "mfh")
LABELS = {
    "flat2": "Flat (2-task)",
    "flat6": "Flat (6-task)",
    "hmtl": "H-MTL (6-task)",
    "mfh": "MFH (6-task)",
}
SWITCHERS = {
    "mmoe": {"num_experts": 4, "expert_units": [32]},
    "ple": {
        "num_task_experts": 1,
        "num_shared_experts": 2,
        "expert_units": [[64], [32]],
        "num_levels": 2,
    },
}
TREE_SWITCHERS = {  # one switcher per tree node: smaller than the flat model's single one
    "mmoe": {"num_experts": 3, "expert_units": [32]},
    "ple": {
        "num_task_experts": 1,
        "num_shared_experts": 1,
        "expert_units": [[32], [32]],
        "num_levels": 2,
    },
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument(
        "--jit", action="store_true", help="XLA-compile training (slow to start on small CPUs)"
    )
    p.add_argument("--switchers", default="mmoe,ple")
    p.add_argument("--macros", default=",".join(MACROS))
    p.add_argument("--inclusion", choices=("none", "paper"), default="none")
    p.add_argument(
        "--heterogeneous", action="store_true", help="(128, 64) towers for high-activity tasks"
    )
    p.add_argument("--rows", type=int, default=None, help="keep only this many training rows")
    p.add_argument(
        "--quick", action="store_true", help="1 seed, 1 epoch, 8,000 training rows, MMoE only"
    )
    p.add_argument("--out", default=None, help="also write the Markdown table here")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.epochs, args.rows, args.switchers = 1, 1, 8000, "mmoe"
    return args


def build(macro, switcher, data, base_tasks):
    from tfmtl.data.movielens_groups import GROUPS
    from tfmtl.models.flat_facets import build_flat_facets
    from tfmtl.models.tree import build_hmtl, build_mfh

    if macro == "flat2":
        return build_flat_facets(
            data.spec, base_tasks, (switcher, SWITCHERS[switcher]), groups=GROUPS
        )
    if macro == "flat6":
        return build_flat_facets(
            data.spec, data.tasks, (switcher, SWITCHERS[switcher]), route_facets="group"
        )
    hp, order = TREE_SWITCHERS[switcher], ["behaviour", "group"]
    if macro == "hmtl":
        return build_hmtl(
            data.spec,
            data.tasks,
            order,
            (switcher, hp),
            branch_units=[32],
            options={"route_facets": "group"},
        )
    return build_mfh(
        data.spec,
        data.tasks,
        order,
        (switcher, hp),
        branch_units=[32],
        options={"route_facets": "group"},
    )


def run_one(macro, switcher, seed, data, args):
    from tfmtl.data.movielens_groups import BASE_TASKS, with_tasks
    from tfmtl.reproduce.mfh_movielens import score
    from tfmtl.training import compile_multitask, fit, set_seed

    set_seed(seed)
    view = with_tasks(data, BASE_TASKS) if macro == "flat2" else data
    model = build(macro, switcher, view, list(BASE_TASKS))
    compile_multitask(model, learning_rate=args.learning_rate, jit_compile=bool(args.jit))
    fit(model, view, epochs=args.epochs, batch_size=args.batch_size, seed=seed, verbose=0)
    scores = score(model, view, data)  # {group}_ctr AUC, {group}_rating MSE
    groups = sorted({key.rsplit("_", 1)[0] for key in scores})
    return {g: (scores[f"{g}_ctr"], scores[f"{g}_rating"]) for g in groups}, model.count_params()


def table(results, switchers, macros, groups) -> str:
    head = (
        "| Switcher | Macro | params | "
        + " | ".join(f"{g} ctr AUC | {g} rate MSE" for g in groups)
        + " |"
    )
    lines = [head, "|" + "---|" * (3 + 2 * len(groups))]
    for sw in switchers:
        base = results.get((sw, "flat2"))
        for macro in macros:
            if (sw, macro) not in results:
                continue
            runs, params = results[(sw, macro)]
            cells = []
            for g in groups:
                for k, higher in ((0, True), (1, False)):
                    vals = np.array([r[g][k] for r in runs])
                    cell = f"{vals.mean():.4f} ± {vals.std():.4f}"
                    if base is not None and macro != "flat2":
                        ref = np.mean([r[g][k] for r in base[0]])
                        cell += f" ({100 * (vals.mean() - ref) / ref:+.2f}%)"
                    cells.append(cell)
            lines.append(
                f"| {sw.upper()} | {LABELS[macro]} | {params:,} | " + " | ".join(cells) + " |"
            )
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    from tfmtl.data.movielens_groups import GROUPS, load_movielens_groups
    from tfmtl.facets import PAPER_INCLUSION

    t0 = time.time()
    data = load_movielens_groups(
        seed=0,
        include=PAPER_INCLUSION if args.inclusion == "paper" else None,
        heterogeneous=args.heterogeneous,
    )
    if args.rows:
        train = data["train"]
        keep = slice(0, args.rows)
        train.features = {k: v[keep] for k, v in train.features.items()}
        train.labels = {k: v[keep] for k, v in train.labels.items()}
        train.extras = {k: v[keep] for k, v in train.extras.items()}
    print(f"{data.description} (loaded in {time.time() - t0:.0f}s)", flush=True)
    switchers, macros = args.switchers.split(","), args.macros.split(",")
    results = {}
    for sw in switchers:
        for macro in macros:
            runs = []
            for seed in range(args.seeds):
                t = time.time()
                metrics, params = run_one(macro, sw, seed, data, args)
                runs.append(metrics)
                summary = "  ".join(
                    f"{g}: auc {metrics[g][0]:.4f} mse {metrics[g][1]:.4f}" for g in GROUPS
                )
                print(
                    f"[{time.time() - t0:6.0f}s] {sw:5s} {macro:6s} seed {seed}: {summary} "
                    f"({time.time() - t:.0f}s)",
                    flush=True,
                )
            results[(sw, macro)] = (runs, params)
            # Written after every cell, so a cut-off run still leaves its partial tables.
            write(args, results, switchers, macros, GROUPS, t0)
    print("\n" + write(args, results, switchers, macros, GROUPS, t0))
    return results


def write(args, results, switchers, macros, groups, t0) -> str:
    md = table(results, switchers, macros, groups)
    settings = (
        f"MovieLens-100K, {args.seeds} seed(s), {args.epochs} epoch(s), batch {args.batch_size}, "
        f"Adam {args.learning_rate}, inclusion={args.inclusion}, heterogeneous={args.heterogeneous}"
        + (f", {args.rows:,} training rows" if args.rows else "")
    )
    text = (
        "# MFH Table 6 reproduction\n\n"
        f"`python {' '.join(['examples/mfh_movielens.py'] + sys.argv[1:])}`\n\n"
        f"{settings}; {time.time() - t0:.0f}s on this machine so far.\n\n{md}\n"
    )
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text)
    return text


if __name__ == "__main__":
    main()
