"""The Switcher contract (tests/contracts.py::check_switcher) over every registered switcher."""

import pytest

from tests.contracts import check_switcher
from tfmtl.models.registry import available_switchers, switcher_factory
from tfmtl.models.zoo import make_switcher

NUM_OUTPUTS = 2


def _small(key: str, value):
    """A registry default shrunk for a tiny model: widths to at most 4, experts to at most 2."""
    if isinstance(value, (list, tuple)):
        return [_small_width(v) for v in value]
    if key.endswith("_experts") and isinstance(value, int) and not isinstance(value, bool):
        return min(value, 2)
    return value


def _small_width(value):
    if isinstance(value, (list, tuple)):
        return [_small_width(v) for v in value]
    return min(int(value), 4)


def small_hparams(name: str) -> dict:
    """Switcher `name`'s registry defaults made small, so every contract check runs fast."""
    _, defaults = switcher_factory(name)
    return {key: _small(key, value) for key, value in defaults.items()}


@pytest.mark.parametrize("name", available_switchers())
def test_switcher_contract(name, tmp_path):
    hparams = small_hparams(name)
    check_switcher(
        lambda: make_switcher(name, NUM_OUTPUTS, **hparams),
        num_outputs=NUM_OUTPUTS,
        tmp_path=tmp_path,
    )
