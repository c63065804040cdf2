"""Names every docstring example may use: `np`, `keras`, `tfmtl` (pytest --doctest-modules)."""

import keras
import numpy as np
import pytest

import tfmtl


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    doctest_namespace.update(np=np, keras=keras, tfmtl=tfmtl)
