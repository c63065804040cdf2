"""The run config: defaults filled in, overrides, and every mistake as one line naming the key."""

import subprocess
import sys

import pytest

from tfmtl.config import ConfigError, load_config, parse_config

BASE = """
data: {train: train.csv, validation: valid.csv, test: test.csv, skip_initial_space: true}
tasks:
  - {name: income, label: income, positive: [">50K", ">50K."]}
  - {name: cvr, label: purchase, space: "click == 1", weight: 0.5, decay: 0.9}
model: {family: ple, num_levels: 2}
"""


def test_defaults_are_filled_in_and_paths_resolved(tmp_path):
    config = parse_config(BASE, base_dir=tmp_path)
    assert config["data"]["train"] == {
        "path": str(tmp_path / "train.csv"),
        "part": [0.0, 1.0],
        "seed": 0,
    }
    assert config["data"]["format"] == "csv" and config["data"]["delimiter"] == ","
    assert (
        config["tasks"][0]["positive"] == [">50K", ">50K."]
        and config["tasks"][0]["kind"] == "binary"
    )
    assert config["tasks"][1]["space"] == "click == 1" and config["tasks"][1]["decay"] == 0.9
    assert config["training"]["epochs"] == 10 and config["features"] == "auto"
    assert config["model"]["family"] == "ple" and config["model"]["num_levels"] == 2
    # resolving a resolved config changes nothing
    assert parse_config(__import__("yaml").safe_dump(config), base_dir="/") == config


def test_one_file_is_split_by_fractions_and_seed(tmp_path):
    config = parse_config(
        "data: {path: all.tsv.gz, split: [0.7, 0.2, 0.1], seed: 3}\ntasks: [click]\n".replace(
            "[click]", "[{name: click}]"
        ),
        base_dir=tmp_path,
    )
    assert config["data"]["format"] == "tsv" and config["data"]["delimiter"] == "\t"
    assert [config["data"][s]["part"] for s in ("train", "validation", "test")] == [
        [0, 0.7],
        [0.7, 0.9],
        [0.9, 1.0],
    ]
    assert config["data"]["test"]["seed"] == 3


def test_overrides_set_nested_keys_and_list_items(tmp_path):
    config = parse_config(
        BASE,
        [
            "model.family=mmoe",
            "model.num_levels=null",
            "tasks.1.weight=2",
            "training.early_stopping={monitor: val_income_auc, patience: 3}",
        ],
        base_dir=tmp_path,
    )
    assert config["model"]["family"] == "mmoe" and config["tasks"][1]["weight"] == 2
    assert config["training"]["early_stopping"] == {
        "monitor": "val_income_auc",
        "patience": 3,
        "mode": "auto",
    }


def test_environment_variables_expand_in_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_DATA", str(tmp_path))
    config = parse_config("data: {train: '${SHOP_DATA}/t.csv'}\ntasks: [{name: a}]\n")
    assert config["data"]["train"]["path"] == str(tmp_path / "t.csv")
    monkeypatch.delenv("SHOP_DATA")
    with pytest.raises(
        ConfigError, match=r"data.train.path: .* uses \$SHOP_DATA, which is not set"
    ):
        parse_config("data: {train: '${SHOP_DATA}/t.csv'}\ntasks: [{name: a}]\n")


@pytest.mark.parametrize(
    "override, message",
    [
        ("training.epochs=0", "training.epochs: a whole number >= 1; got 0"),
        ("training.batch_size=0", "training.batch_size: a whole number >= 1; got 0"),
        ("training.learning_rate=-1", "training.learning_rate: a number > 0"),
        (
            "training.precision=fp16",
            "training.precision: 'fp16' is not one of float32, mixed_bfloat16",
        ),
        ("training.epoch=3", "training.epoch: unknown key; training takes: epochs, batch_size"),
        (
            "training.loss_balancing=pcgard",
            "training.loss_balancing: 'pcgard' is not one of fixed, ple_decay",
        ),
        (
            "training.loss_balancing={temperature: 2}",
            "training.loss_balancing: a strategy name or {strategy: name",
        ),
        ("data.format=xlsx", "data.format: 'xlsx' is not one of csv, tsv, parquet, tfrecord"),
        ("tasks.0.kind=ranking", "tasks[0].kind: 'ranking' is not one of binary, regression"),
        ("tasks.1.decay=0", "tasks[1].decay: a number > 0"),
        ("tasks.0.lable=x", "tasks[0].lable: unknown key"),
        ("model.family=mfhh", "model.family: unknown family 'mfhh'"),
        ("model.num_expert=3", "num_expert"),
        ("optimizer=sgd", "optimizer: unknown key; a run config takes: data, features"),
    ],
)
def test_mistakes_are_one_line_naming_the_key(tmp_path, override, message):
    with pytest.raises(ConfigError) as e:
        parse_config(BASE, [override], source="run.yaml", base_dir=tmp_path)
    assert (
        str(e.value).startswith("run.yaml: ")
        and message in str(e.value)
        and "\n" not in str(e.value)
    )


def test_bad_yaml_and_bad_shapes_name_the_place(tmp_path):
    with pytest.raises(ConfigError, match=r"run.yaml line 3: not valid YAML"):
        parse_config("data: {train: a.csv}\ntasks: [unclosed\n", source="run.yaml")
    with pytest.raises(ConfigError, match=r"data.split: give one file"):
        parse_config(
            "data: {train: a.csv, test: b.csv, split: [0.8, 0.1, 0.1]}\ntasks: [{name: a}]"
        )
    with pytest.raises(ConfigError, match=r"data.split: three fractions"):
        parse_config("data: {path: a.csv, split: [0.8, 0.3, 0.1]}\ntasks: [{name: a}]")
    with pytest.raises(ConfigError, match=r"tasks\[1\].name: task 'a' is listed twice"):
        parse_config("data: {train: a.csv}\ntasks: [{name: a}, {name: a}]")
    with pytest.raises(ConfigError, match=r"--set tasks.5: no item 5 in a list of 1"):
        parse_config("data: {train: a.csv}\ntasks: [{name: a}]", ["tasks.5.weight=1"])
    with pytest.raises(ConfigError, match=r"--config .*nope.yaml is not a file"):
        load_config(tmp_path / "nope.yaml")


def test_builtin_dataset_configs_fix_labels_but_take_weights():
    config = parse_config(
        "data: {dataset: census, protocol: test-only}\ntasks: [{name: income, weight: 2}]\n"
        "model: {family: mmoe}"
    )
    assert (
        config["data"] == {"dataset": "census", "protocol": "test-only"}
        and config["tasks"][0]["weight"] == 2
    )
    with pytest.raises(
        ConfigError, match=r"data.dataset: unknown dataset 'censsus'; choose one of: census"
    ):
        parse_config("data: {dataset: censsus}")
    with pytest.raises(
        ConfigError, match=r"tasks\[0\].label: a built-in dataset fixes its tasks' labels"
    ):
        parse_config("data: {dataset: census}\ntasks: [{name: income, label: x}]")


def test_reading_a_config_imports_no_tensorflow():
    code = (
        "import sys; from tfmtl.config import parse_config; "
        "parse_config('data: {train: a.csv}\\ntasks: [{name: a}]\\nmodel: "
        "{family: dml, backbone: mmoe}\\n'"
        "'training: {loss_balancing: {strategy: dwa, temperature: 2}}'); "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_every_example_config_resolves(monkeypatch):
    from pathlib import Path

    monkeypatch.setenv("TFMTL_DATA_DIR", "/data")
    configs = sorted(Path(__file__).parents[1].glob("examples/configs/**/*.yaml"))
    assert len(configs) >= 30
    families = set()
    for path in configs:
        families.add(load_config(path)["model"]["family"])
    from tfmtl.models.registry import available_families

    assert families == set(available_families())  # a config for every family
