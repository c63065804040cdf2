"""No zoo model asks TF for a broadcasting batched matmul (see `tfmtl.layers.linear`).

TF 2.21's oneDNN CPU kernel for a `BatchMatMulV2` whose batch axes differ corrupts the heap on
AVX-512 machines, so a served SavedModel (or training) would abort there. The traced graph of
every model must hold only batched matmuls with equal batch axes.
"""

from __future__ import annotations

import pytest
import tensorflow as tf

from tests.export.conftest import MACROS, tiny_macro, tiny_model
from tfmtl.models import available_models


def broadcasting_matmuls(graph) -> list[str]:
    found = []
    for op in graph.get_operations():
        if op.type.startswith("BatchMatMul"):
            a, b = op.inputs[0].shape, op.inputs[1].shape
            if a.rank != b.rank or a[:-2] != b[:-2]:
                found.append(f"{op.name}: {a} @ {b}")
    for function in graph._functions.values():
        if hasattr(function, "graph"):
            found += broadcasting_matmuls(function.graph)
    return found


@pytest.mark.parametrize("name", available_models() + MACROS)
def test_every_batched_matmul_has_equal_batch_axes(name, tiny_data):
    model = tiny_macro(name, tiny_data) if name in MACROS else tiny_model(name, tiny_data)
    signature = {k: tf.TensorSpec((None, *v.shape[1:]), v.dtype) for k, v in model.input.items()}
    graph = tf.function(lambda x: model(x, training=True)).get_concrete_function(signature).graph
    assert broadcasting_matmuls(graph) == []
