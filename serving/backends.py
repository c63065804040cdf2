"""PredictionBackends: several PredictionService replicas behind one PredictionService stub.

The ranking service calls `Predict` and `GetModelMetadata` on this as on one stub. Calls go
round-robin over the replicas that are up. A call that fails with UNAVAILABLE (the replica
is gone, restarting or unreachable; nothing else: Predict and GetModelMetadata are
idempotent, so only "it did not answer" is retried) marks that replica down and is sent at
once to the next one, each replica at most once per call and all within the caller's
timeout. A down replica is left alone for a backoff (1 s, doubling to 30 s), then one call
probes it: an answer brings it back, another UNAVAILABLE doubles the backoff. When every
replica is down a call still tries them, soonest-back first, rather than failing untried.

Each replica has its own channel (`tfmtl.serving.tls.channel`, so TLS applies to all) and its
own `ObservedStub`: every failed attempt is counted and logged under its address. With one
replica, calls go straight to its stub: no retry, no down-marking, as before replicas.

Example:

>>> import tempfile
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0")])
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("finish")]
>>> model = tfmtl.models.build_model("mmoe", spec, tasks, num_experts=2, expert_units=[4])
>>> version_dir = tfmtl.export.export_saved_model(model, tempfile.mkdtemp(), "ple")
>>> server = tfmtl.serving.serve(version_dir.parent, "ple", port=0)
>>> backends = PredictionBackends(f"127.0.0.1:1,{server.address}")
>>> from tensorflow_serving.apis import get_model_metadata_pb2
>>> request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
>>> request.model_spec.name = "ple"
>>> backends.GetModelMetadata(request, timeout=5.0).model_spec.version.value  # whichever is up
1
>>> backends.down()
['127.0.0.1:1']
>>> backends.close(); server.stop()
"""

from __future__ import annotations

import logging
import threading
import time

import grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tfmtl.serving import tls as tls_lib
from tfmtl.serving.grpc_server import MESSAGE_OPTIONS
from tfmtl.serving.metrics import ObservedStub, ServerMetrics

log = logging.getLogger("tfmtl.serving")

BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
# gRPC's own reconnect backoff grows to 120 s by default; capped like ours, a replica that
# comes back is connected again by the time the next probe reaches it.
_CHANNEL_OPTIONS = (
    *MESSAGE_OPTIONS,
    ("grpc.max_reconnect_backoff_ms", int(MAX_BACKOFF_SECONDS * 1000)),
)
_UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


def split_addresses(prediction_service, name: str = "prediction_service") -> list[str]:
    """`"a:1,b:2"` or `["a:1", "b:2"]` -> `["a:1", "b:2"]`, refusing an empty or repeated entry.

    Args:
        prediction_service: str or list of str. One `host:port`, several comma-separated, or a list.
        name: str. What errors call it (the argument, or a flag).
    """
    items = (
        prediction_service.split(",")
        if isinstance(prediction_service, str)
        else list(prediction_service)
    )
    addresses = [str(a).strip() for a in items]
    if not addresses or not all(addresses):
        raise ValueError(
            f"{name} {prediction_service!r} has an empty address; give host:port, "
            "or several replicas as host1:port1,host2:port2."
        )
    repeated = sorted({a for a in addresses if addresses.count(a) > 1})
    if repeated:
        raise ValueError(f"{name} lists {repeated[0]} more than once; name each replica once.")
    return addresses


class _Replica:
    """One PredictionService address, its channel and stub, and whether it is down."""

    def __init__(self, address: str, channel: grpc.Channel, stub):
        self.address, self.channel, self.stub = address, channel, stub
        self.down_until: float | None = None  # None: up
        self.backoff = 0.0
        self.probing = False  # one call was handed this down replica to find out if it is back


class PredictionBackends:
    """PredictionService replicas, called as one stub (`Predict`, `GetModelMetadata`).

    Args:
        prediction_service: str or list of str. Replica addresses: `"a:1,b:2"` or a list.
        tls: `tfmtl.serving.tls.ChannelTls` or None. TLS for every replica's channel (None:
            plaintext).
        metrics: `tfmtl.serving.metrics.ServerMetrics` or None. Where failed calls are counted.
        backoff_seconds: float. How long a replica that stopped answering is first left alone.
        max_backoff_seconds: float. The most its backoff doubles to.
    """

    def __init__(
        self,
        prediction_service,
        tls: tls_lib.ChannelTls | None = None,
        metrics: ServerMetrics | None = None,
        backoff_seconds: float = BACKOFF_SECONDS,
        max_backoff_seconds: float = MAX_BACKOFF_SECONDS,
    ):
        self.addresses = split_addresses(prediction_service)
        self.backoff_seconds, self.max_backoff_seconds = (
            float(backoff_seconds),
            float(max_backoff_seconds),
        )
        self._replicas = []
        for address in self.addresses:
            channel = tls_lib.channel(address, tls, options=_CHANNEL_OPTIONS)
            stub = ObservedStub(
                prediction_service_pb2_grpc.PredictionServiceStub(channel), address, metrics
            )
            self._replicas.append(_Replica(address, channel, stub))
        self._next = 0
        self._lock = threading.Lock()

    def Predict(self, request, timeout: float | None = None, **kwargs):
        return self._call("Predict", request, timeout, kwargs)

    def GetModelMetadata(self, request, timeout: float | None = None, **kwargs):
        return self._call("GetModelMetadata", request, timeout, kwargs)

    def down(self) -> list[str]:
        """Addresses of the replicas marked down now."""
        with self._lock:
            return [r.address for r in self._replicas if r.down_until is not None]

    def close(self) -> None:
        for replica in self._replicas:
            replica.channel.close()

    def _call(self, name: str, request, timeout: float | None, kwargs: dict):
        if len(self._replicas) == 1:
            return getattr(self._replicas[0].stub, name)(request, timeout=timeout, **kwargs)
        deadline = None if timeout is None else time.monotonic() + timeout
        error = None
        for replica in self._order():
            remaining = None if deadline is None else deadline - time.monotonic()
            if error is not None and remaining is not None and remaining <= 0:
                break
            try:
                response = getattr(replica.stub, name)(request, timeout=remaining, **kwargs)
            except grpc.RpcError as e:
                code = e.code() if hasattr(e, "code") else grpc.StatusCode.UNKNOWN
                if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                    self._failed(replica, e, unavailable=False)
                if code != _UNAVAILABLE:
                    if code != grpc.StatusCode.DEADLINE_EXCEEDED:
                        self._answered(replica)
                    raise
                self._failed(replica, e)
                error = e
                continue
            self._answered(replica)
            return response
        raise error

    def _order(self) -> list[_Replica]:
        """This call's replicas: a due probe, then those up (round-robin), then the rest,
        soonest-back first.
        """
        now = time.monotonic()
        with self._lock:
            start, self._next = self._next, (self._next + 1) % len(self._replicas)
            rotation = self._replicas[start:] + self._replicas[:start]
            up = [r for r in rotation if r.down_until is None]
            due = [
                r
                for r in rotation
                if r.down_until is not None and r.down_until <= now and not r.probing
            ]
            for (
                replica
            ) in due:  # one call probes it; the others keep away until it answers or fails
                replica.probing = True
            waiting = sorted(
                (r for r in rotation if r.down_until is not None and r not in due),
                key=lambda r: r.down_until,
            )
        return due + up + waiting

    def _failed(self, replica: _Replica, error: grpc.RpcError, unavailable: bool = True) -> None:
        """Mark `replica` down on UNAVAILABLE; a probe that failed either way backs off twice as
        long.
        """
        now = time.monotonic()
        with self._lock:
            if replica.down_until is None and not unavailable:
                return  # a slow answer is the caller's deadline, not a replica gone
            if replica.down_until is None:
                replica.backoff = self.backoff_seconds
                replica.down_until, went_down = now + replica.backoff, True
                others = sum(r.down_until is None for r in self._replicas)
            elif replica.probing:
                replica.probing, went_down = False, False
                replica.backoff = min(2 * replica.backoff, self.max_backoff_seconds)
                replica.down_until = now + replica.backoff
            else:
                return  # already down: a call that was on its way when it went
        if went_down:
            details = error.details() if hasattr(error, "details") else str(error)
            log.warning(
                "PredictionService replica %s is down (UNAVAILABLE: %s); its calls go to the %d "
                "other replica(s) up, and it is tried again in %.0f s.",
                replica.address,
                details,
                others,
                replica.backoff,
            )

    def _answered(self, replica: _Replica) -> None:
        with self._lock:
            if replica.down_until is None:
                return
            replica.down_until, replica.backoff, replica.probing = None, 0.0, False
        log.info(
            "PredictionService replica %s answers again; it gets calls again.", replica.address
        )
