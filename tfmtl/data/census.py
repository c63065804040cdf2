"""Census-Income (KDD) with the MMoE/PLE tasks: income > 50K and marital status never-married.

Reads `<data_dir>/census-income/census-income.test.gz` (and `census-income.data.gz` when a
user supplies it). Two protocols (`protocol=`), as the folder's PROVENANCE.md states:

- "test-only" (the default without the training file): rows permuted by
  `numpy.random.default_rng(2026)`, 60% train, 20% validation, 20% test;
- "published" (the default with the training file): train on its 199,523 rows, the test file
  permuted by the same generator and split 50/50 into validation and test (49,881 each; the
  MMoE paper's protocol).

The instance weight (column 24) is dropped; a task's source column is never an input;
vocabularies and normalisation come from the train split only.

Example:

>>> data = load_census(protocol="test-only")
>>> data.description
'Census-Income (KDD): test-only protocol: shipped-test-file split 60/20/20 ...'
"""

from __future__ import annotations

import numpy as np

from tfmtl.data.dataset import MultiTaskData, build_splits, split_indices
from tfmtl.data.paths import data_dir, require_file
from tfmtl.data.text_table import read_table
from tfmtl.features import CategoricalFeature, DenseFeature, FeatureSpec
from tfmtl.tasks import Task

COLUMNS = [
    "age",
    "class_of_worker",
    "industry_code",
    "occupation_code",
    "education",
    "wage_per_hour",
    "enrolled_in_edu_inst_last_wk",
    "marital_status",
    "major_industry_code",
    "major_occupation_code",
    "race",
    "hispanic_origin",
    "sex",
    "member_of_labor_union",
    "reason_for_unemployment",
    "full_or_part_time_employment_stat",
    "capital_gains",
    "capital_losses",
    "dividends_from_stocks",
    "tax_filer_stat",
    "region_of_previous_residence",
    "state_of_previous_residence",
    "detailed_household_and_family_stat",
    "detailed_household_summary_in_household",
    "instance_weight",
    "migration_code_change_in_msa",
    "migration_code_change_in_reg",
    "migration_code_move_within_reg",
    "live_in_this_house_1_year_ago",
    "migration_prev_res_in_sunbelt",
    "num_persons_worked_for_employer",
    "family_members_under_18",
    "country_of_birth_father",
    "country_of_birth_mother",
    "country_of_birth_self",
    "citizenship",
    "own_business_or_self_employed",
    "fill_inc_questionnaire_for_veterans_admin",
    "veterans_benefits",
    "weeks_worked_in_year",
    "year",
    "income",
]
DENSE = {
    "age": "none",
    "wage_per_hour": "log1p",
    "capital_gains": "log1p",
    "capital_losses": "log1p",
    "dividends_from_stocks": "log1p",
    "num_persons_worked_for_employer": "none",
    "weeks_worked_in_year": "none",
}
COLLEGE = (
    "Some college but no degree",
    "Associates degree-occup /vocational",
    "Associates degree-academic program",
    "Bachelors degree(BA AB BS)",
    "Masters degree(MA MS MEng MEd MSW MBA)",
    "Prof school degree (MD DDS DVM LLB JD)",
    "Doctorate degree(PhD EdD)",
)
# task name -> (source column, label function of that column's raw strings)
LABELS = {
    "income": ("income", lambda v: (v == "50000+.").astype(np.float32)),
    "never_married": ("marital_status", lambda v: (v == "Never married").astype(np.float32)),
    "education": ("education", lambda v: np.isin(v, COLLEGE).astype(np.float32)),
}
TEST_FILE, TRAIN_FILE = "census-income.test.gz", "census-income.data.gz"
SPLIT_SEED = 2026
PROTOCOLS = ("published", "test-only")


def read_census_file(path) -> dict:
    """The raw columns of one Census file (strings stripped, `?` kept as its own category;
    the dense columns as float64)."""
    return read_table(path, names=COLUMNS, strip=True, numeric=tuple(DENSE))


def census_spec(
    exclude=(), embedding_dim: int = 8, dense_encoding: str = "bucket", num_buckets: int = 255
) -> FeatureSpec:
    """Every attribute but the instance weight, the income label and the `exclude`d columns.

    Dense columns get `num_buckets` training quantiles, encoded as `dense_encoding` ("bucket"
    or "piecewise_linear", see `DenseFeature`). 255 matches the bins gradient-boosted trees cut
    these columns into; with 16 the networks trail the trees on income (benchmarks/CENSUS.md)."""
    features = []
    for name in COLUMNS:
        if name in ("instance_weight", "income") or name in exclude:
            continue
        if name in DENSE:
            features.append(
                DenseFeature(
                    name,
                    transform=DENSE[name],
                    num_buckets=num_buckets,
                    embedding_dim=embedding_dim,
                    encoding=dense_encoding,
                )
            )
        else:
            features.append(CategoricalFeature(name, embedding_dim=embedding_dim))
    return FeatureSpec(features)


def load_census(
    data_dir_=None,
    tasks=("income", "never_married"),
    embedding_dim: int = 8,
    dense_encoding: str = "bucket",
    protocol: str | None = None,
    num_buckets: int = 255,
) -> MultiTaskData:
    """Census-Income (KDD) as `MultiTaskData`; `tasks` from {income, never_married, education}.

    `protocol`: "published" (needs the training file), "test-only" (the test file alone, even
    when the training file is present), or None: "published" when the training file is there.
    """
    unknown = sorted(set(tasks) - set(LABELS))
    if unknown:
        raise ValueError(f"Unknown Census task(s) {unknown}. Choose from {sorted(LABELS)}.")
    if protocol not in PROTOCOLS + (None,):
        raise ValueError(
            f"Unknown Census protocol={protocol!r}. Choose from {list(PROTOCOLS)} or None (auto)."
        )
    folder = data_dir(data_dir_) / "census-income"
    test_path = require_file(folder, TEST_FILE, "Census-Income")
    if protocol is None:
        protocol = "published" if (folder / TRAIN_FILE).is_file() else "test-only"
    test = read_census_file(test_path)
    if protocol == "published":
        train = read_census_file(
            require_file(folder, TRAIN_FILE, "Census-Income (protocol='published')")
        )
        n_train, n_test = len(train["age"]), len(test["age"])
        columns = {k: np.concatenate([train.pop(k), test.pop(k)]) for k in COLUMNS}
        order = np.random.default_rng(SPLIT_SEED).permutation(n_test) + n_train
        half = n_test // 2
        indices = {"train": np.arange(n_train), "validation": order[:half], "test": order[half:]}
        described = (
            f"published protocol: train on {TRAIN_FILE}, {TEST_FILE} split 50/50 into "
            "validation/test"
        )
        source = f"{TRAIN_FILE}+{TEST_FILE}"
    else:
        columns, source = test, TEST_FILE
        indices = split_indices(len(test["age"]), SPLIT_SEED)
        present = "present, not used" if (folder / TRAIN_FILE).is_file() else "absent"
        described = (
            "test-only protocol: shipped-test-file split 60/20/20 by "
            f"numpy.random.default_rng({SPLIT_SEED}) "
            f"({TRAIN_FILE} {present})"
        )
    task_objs = []
    for name in tasks:
        column, fn = LABELS[name]
        columns[f"label_{name}"] = fn(columns[column])
        task_objs.append(Task(name, kind="binary", label=f"label_{name}"))
    encoding = {"dense_encoding": dense_encoding, "num_buckets": num_buckets}
    spec = census_spec([LABELS[t][0] for t in tasks], embedding_dim, **encoding)
    data = build_splits(columns, spec, task_objs, indices, source)
    sizes = ", ".join(f"{k} {len(v):,}" for k, v in data.splits.items())
    data.description = f"Census-Income (KDD): {described}; {sizes} rows"
    return data
