"""Contract harnesses shared by the layer tests, in the manner of Keras' `run_layer_test`."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import keras
import numpy as np

from tfmtl.layers import Switcher


def _arrays(tensors) -> list[np.ndarray]:
    return [keras.ops.convert_to_numpy(t) for t in tensors]


def _assert_same(got, want, what: str, atol: float = 1e-5) -> None:
    assert len(got) == len(want), f"{what}: {len(got)} tensors, expected {len(want)}"
    for k, (a, b) in enumerate(zip(_arrays(got), _arrays(want))):
        np.testing.assert_allclose(a, b, atol=atol, err_msg=f"{what}: tensor {k} differs")


def _check_outputs(switcher: Switcher, outputs, batch: int, num_outputs: int) -> None:
    assert isinstance(outputs, list), f"expected a list of outputs, got {type(outputs)}"
    assert len(outputs) == num_outputs, f"{len(outputs)} outputs, expected {num_outputs}"
    for k, y in enumerate(outputs):
        shape = tuple(y.shape)
        assert len(shape) == 2 and shape[0] == batch, f"output {k} has shape {shape}"


def _check_gates(switcher: Switcher, gates, batch: int) -> None:
    assert len(gates) == len(switcher.gate_names), (
        f"{len(gates)} gates for gate_names {switcher.gate_names}"
    )
    for name, gate in zip(switcher.gate_names, _arrays(gates)):
        assert gate.ndim == 2 and gate.shape[0] == batch, f"gate {name} has shape {gate.shape}"
        assert np.all(gate >= 0.0), f"gate {name} has negative weights"
        np.testing.assert_allclose(gate.sum(axis=-1), 1.0, atol=1e-5, err_msg=f"gate {name}")


def _check_round_trips(switcher: Switcher, x: np.ndarray, tmp_path: Path) -> None:
    want = switcher(x)
    clone = type(switcher).from_config(switcher.get_config())
    clone(x)
    clone.set_weights(switcher.get_weights())
    _assert_same(clone(x), want, "get_config/from_config")

    inputs = keras.Input(shape=x.shape[1:], name="x")
    model = keras.Model(inputs, switcher(inputs))
    path = Path(tmp_path) / f"{switcher.name}.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    _assert_same(restored(x), model(x), ".keras round trip")


def _check_fit_step(switcher: Switcher, x: np.ndarray) -> None:
    inputs = keras.Input(shape=x.shape[1:], name="x")
    outputs = switcher(inputs)
    head = keras.layers.Dense(1, name="head")(keras.ops.concatenate(outputs, axis=-1))
    model = keras.Model(inputs, head)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = _arrays(switcher.trainable_weights)
    y = np.random.default_rng(1).normal(size=(x.shape[0], 1)).astype("float32")
    history = model.fit(x, y, epochs=1, batch_size=x.shape[0], verbose=0)
    loss = history.history["loss"][-1]
    assert np.isfinite(loss), f"fit step gave loss {loss}"
    after = _arrays(switcher.trainable_weights)
    assert any(not np.allclose(a, b) for a, b in zip(before, after)), (
        "one fit step moved none of the switcher's weights"
    )


def check_switcher(
    switcher_factory: Callable[[], Switcher],
    num_outputs: int,
    tmp_path: Path,
    input_dim: int = 5,
    batch: int = 4,
) -> None:
    """Runs the Switcher contract (MFH §3.2.1) on fresh switchers from `switcher_factory`.

    Checks: a `[B, D]` tensor and a list of `num_outputs` views each give `num_outputs`
    tensors `[B, H]`; `return_gates=True` gives one distribution `[B, n]` per gate name;
    symbolic and eager calls agree; `get_config`/`from_config` and a `.keras` file in
    `tmp_path` give equal outputs; one `fit` step moves the weights with a finite loss.

    Args:
        switcher_factory: callable. Makes a new, unbuilt switcher with `num_outputs` outputs.
        num_outputs: int. The outputs the switcher is made with.
        tmp_path: path. A folder to write the `.keras` file into.
        input_dim: int. D, the width of the inputs. Defaults to `5`.
        batch: int. B, the rows of the inputs. Defaults to `4`.
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, input_dim)).astype("float32")
    views = [rng.normal(size=(batch, input_dim)).astype("float32") for _ in range(num_outputs)]

    switcher = switcher_factory()
    assert isinstance(switcher, Switcher), f"{type(switcher).__name__} is not a Switcher"
    outputs = switcher(x)
    _check_outputs(switcher, outputs, batch, num_outputs)
    outputs, gates = switcher(x, return_gates=True)
    _check_outputs(switcher, outputs, batch, num_outputs)
    _check_gates(switcher, gates, batch)

    on_views = switcher_factory()
    outputs, gates = on_views(views, return_gates=True)
    _check_outputs(on_views, outputs, batch, num_outputs)
    _check_gates(on_views, gates, batch)

    inputs = keras.Input(shape=(input_dim,), name="x")
    symbolic_outputs, symbolic_gates = switcher(inputs, return_gates=True)
    for k, y in enumerate(symbolic_outputs):
        assert tuple(y.shape) == (None, outputs[k].shape[1]), f"symbolic output {k}: {y.shape}"
    model = keras.Model(inputs, [symbolic_outputs, symbolic_gates])
    got_outputs, got_gates = model(x)
    want_outputs, want_gates = switcher(x, return_gates=True)
    _assert_same(got_outputs, want_outputs, "symbolic vs eager outputs")
    _assert_same(got_gates, want_gates, "symbolic vs eager gates")

    _check_round_trips(switcher, x, tmp_path)
    _check_fit_step(switcher_factory(), x)
