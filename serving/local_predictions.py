"""The PredictionService in the ranking server's own process: no gRPC hop to the model.

`tfmtl rank-server --model_base_path B --model_name N` serves ranking over the model itself:
the servicer `tfmtl serve` runs (the same checks, limits and answers) is called directly, so a
Rank request costs no Predict serialisation, no second server's threads and no loopback
round trip. Errors keep their gRPC status, as a remote PredictionService's would.
"""

from __future__ import annotations

import grpc

from tfmtl.serving.model_manager import ModelManager
from tfmtl.serving.prediction_service import (
    DEFAULT_MAX_BATCH_SIZE,
    PredictionServicer,
    _Models,
)


class LocalRpcError(grpc.RpcError):
    """A status from the in-process servicer, with `code()` and `details()` as gRPC's."""

    def __init__(self, code: grpc.StatusCode, details: str):
        super().__init__(details)
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class _Context:
    """What `PredictionServicer` uses of a `grpc.ServicerContext`: `abort`."""

    def abort(self, code, details):
        raise LocalRpcError(code, details)


class LocalPredictions:
    """`ModelManager`s called as a PredictionService stub (`Predict`, `GetModelMetadata`).

    Args:
        managers: dict. Model name -> `ModelManager` (started by `start`, stopped by `close`).
        max_batch_size: int. Most rows per Predict, as `PredictionServer`'s.
    """

    def __init__(self, managers: dict[str, ModelManager], max_batch_size=DEFAULT_MAX_BATCH_SIZE):
        self.managers = dict(managers)
        self.servicer = PredictionServicer(_Models(self.managers, max_batch_size))

    def start(self) -> "LocalPredictions":
        for manager in self.managers.values():
            manager.start()
        return self

    def Predict(self, request, timeout: float | None = None, **kwargs):
        return self.servicer.Predict(request, _Context())

    def GetModelMetadata(self, request, timeout: float | None = None, **kwargs):
        return self.servicer.GetModelMetadata(request, _Context())

    def close(self) -> None:
        for manager in self.managers.values():
            manager.stop()
