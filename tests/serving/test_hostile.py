"""Hostile requests to both gRPC services: each is refused with the right status and a short
message naming the field, never INTERNAL, and the next good request on the channel succeeds."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from tests.serving import wire
from tests.serving.hostile import floats, output_filter, predict, spec
from tests.serving.hostile_predict import OTHERS, PREDICT
from tests.serving.hostile_rank import RANK
from tfmtl.serving.tensors import to_ndarray

CASES = PREDICT + OTHERS + RANK


def test_the_suite_is_large_and_distinct():
    assert len(CASES) >= 50 and len({(c.method, c.id) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[f"{c.method}-{c.id}" for c in CASES])
def test_hostile_request_is_refused_by_name(case, stubs, requests):
    with pytest.raises(grpc.RpcError) as e:
        stubs.call(case.method, case.make(requests), timeout=case.timeout)
    assert e.value.code() == case.code, (e.value.code(), e.value.details())
    wire.check_refusal(e.value, case.words)
    wire.check_good(stubs, requests)


ACCEPTED = [
    # Not refused, and rightly: what the server does with each instead.
    ("string-input-not-utf8", predict(segment=np.array([b"\xff\xfe", b"s1", b"\x80"], object))),
    ("float32-max-inputs", predict(x0=floats(3.4e38, 0), x1=floats(-3.4e38, 2))),
    ("output-filter-duplicate", output_filter("finish", "finish")),
    ("version-label-empty", spec(version_label="")),
]


@pytest.mark.parametrize("make", [m for _, m in ACCEPTED], ids=[i for i, _ in ACCEPTED])
def test_odd_but_valid_predict_answers_finite_scores(make, stubs, requests):
    """Unknown strings go to the model's out-of-vocabulary bucket; +-3.4e38 is finite and
    saturates the heads; a repeated output_filter name is answered once; an empty label means
    the latest version."""
    response = stubs.call("Predict", make(requests))
    assert response.outputs and response.model_spec.version.value == 1
    for proto in response.outputs.values():
        values = to_ndarray(proto, "output")
        assert values.shape == (3,) and np.isfinite(values).all()
