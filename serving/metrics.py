"""Metrics: Prometheus metrics of one server, on a registry of its own, served over HTTP.

Every unary RPC (health checks and reflection aside) is counted and timed in one place, the
gRPC interceptor `ServerMetrics.interceptor()` that `GrpcServer` installs:

    tfmtl_requests_total{service,method,model,version,code}  counter; Ranking: +fusion_variant
    tfmtl_request_seconds{service,method,model}               histogram, 1 ms to 10 s
    tfmtl_model_versions_loaded{model}                        gauge, PredictionServer
    tfmtl_backend_errors_total{call,code}                     counter, RankingServer's backend

`model` is the request's model name only if the server knows it (it serves it, or answered
for it), else ""; `version` is the version that answered ("" on an error), so no client can
grow the registry. RPCs refused by the concurrency limit never reach a handler and are not
counted. `log_backend_failure` is the rate-limited WARNING for a failed PredictionService call.

Example:

>>> import urllib.request
>>> metrics = ServerMetrics()
>>> port = metrics.serve_http("127.0.0.1", 0)
>>> b"tfmtl_requests_total" in urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read()
True
>>> metrics.close()
"""

from __future__ import annotations

import logging
import threading
import time

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

log = logging.getLogger("tfmtl.serving")

SECONDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_MODELS = 100
BACKEND_LOG_SECONDS = 5.0
_UNTIMED = ("/grpc.health.v1.Health/", "/grpc.reflection.")
_OK, _UNKNOWN = grpc.StatusCode.OK, grpc.StatusCode.UNKNOWN
_REQUEST_CODES = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.OUT_OF_RANGE,
)


class ServerMetrics:
    """One server's request metrics (and, once used, its model and backend metrics).

    Args:
        request_labels: tuple of str. Extra labels on `tfmtl_requests_total`, each read from the
            response field of that name ("" on an error or where the field does not exist).

    `model` labels take the names given to `add_models` and, up to `MAX_MODELS`, those the server
    answered for; any other name is reported as "".
    """

    def __init__(self, request_labels: tuple = ()):
        self.registry = CollectorRegistry()
        self.request_labels = tuple(request_labels)
        self.requests = Counter(
            "tfmtl_requests_total",
            "RPCs answered, by method, model, version and status code.",
            ("service", "method", "model", "version", "code", *self.request_labels),
            registry=self.registry,
        )
        self.seconds = Histogram(
            "tfmtl_request_seconds",
            "Seconds to answer an RPC.",
            ("service", "method", "model"),
            buckets=SECONDS_BUCKETS,
            registry=self.registry,
        )
        self._models: set = set()
        self._more: dict = {}
        self._lock = threading.Lock()
        self._http = None

    def add_models(self, names) -> None:
        """Model names the server serves: reported as themselves, even on a failed request."""
        with self._lock:
            self._models.update(names)

    def interceptor(self) -> grpc.ServerInterceptor:
        return _Interceptor(self)

    def observe(
        self, service: str, method: str, request, response, code: grpc.StatusCode, seconds: float
    ) -> None:
        """Count and time one RPC; `response` is None when it failed."""
        ok = code == _OK
        answered = _model_name(response) if ok else ""
        asked = _model_name(request)
        with self._lock:
            if answered and answered not in self._models and len(self._models) < MAX_MODELS:
                self._models.add(answered)
            model = answered or asked
            model = model if model in self._models else ""
        version = _version(response) if ok else ""
        extra = [
            str(getattr(response, label, "") or "") if ok else "" for label in self.request_labels
        ]
        self.requests.labels(service, method, model, version, code.name, *extra).inc()
        self.seconds.labels(service, method, model).observe(seconds)

    def versions_loaded(self, model: str, count: int) -> None:
        """`tfmtl_model_versions_loaded{model}`: versions of `model` serving now."""
        self._metric(
            Gauge, "tfmtl_model_versions_loaded", "Versions serving, by model.", ("model",)
        ).labels(model).set(count)

    def backend_error(self, call: str, code: grpc.StatusCode) -> None:
        """`tfmtl_backend_errors_total{call,code}`: one failed PredictionService call."""
        self._metric(
            Counter,
            "tfmtl_backend_errors_total",
            "Failed PredictionService calls, by call and code.",
            ("call", "code"),
        ).labels(call, code.name).inc()

    def _metric(self, kind, name: str, documentation: str, labels: tuple):
        with self._lock:
            if name not in self._more:
                self._more[name] = kind(name, documentation, labels, registry=self.registry)
            return self._more[name]

    def serve_http(self, host: str, port: int) -> int:
        """Serve `/metrics` on `host:port` (0: a free port) in a daemon thread; returns the port."""
        self._http, _ = start_http_server(int(port), addr=host, registry=self.registry)
        return self._http.server_port

    def close(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None


class _Interceptor(grpc.ServerInterceptor):
    """Wraps each unary handler: the code is the handler's (`context.code()` after an abort)."""

    def __init__(self, metrics: ServerMetrics):
        self.metrics = metrics

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        path = handler_call_details.method
        if handler is None or handler.unary_unary is None or path.startswith(_UNTIMED):
            return handler
        service, _, method = path.lstrip("/").partition("/")
        behavior, observe = handler.unary_unary, self.metrics.observe

        def timed(request, context):
            started, response = time.perf_counter(), None
            try:
                response = behavior(request, context)
                return response
            finally:
                code = context.code() or (_OK if response is not None else _UNKNOWN)
                elapsed = time.perf_counter() - started
                observe(service, method, request, response if code == _OK else None, code, elapsed)

        return grpc.unary_unary_rpc_method_handler(
            timed, handler.request_deserializer, handler.response_serializer
        )


class ObservedStub:
    """A PredictionService stub whose failed calls are counted and logged (`log_backend_failure`).

    Args:
        stub: a `PredictionServiceStub`.
        address: str. `host:port` its channel calls, for the log line.
        metrics: ServerMetrics or None. Where `tfmtl_backend_errors_total` is counted.
    """

    def __init__(self, stub, address: str, metrics: ServerMetrics | None = None):
        self.stub, self.address, self.metrics = stub, address, metrics

    def Predict(self, request, **kwargs):
        return self._call("Predict", request, kwargs)

    def GetModelMetadata(self, request, **kwargs):
        return self._call("GetModelMetadata", request, kwargs)

    def _call(self, name: str, request, kwargs: dict):
        try:
            return getattr(self.stub, name)(request, **kwargs)
        except grpc.RpcError as e:
            if self.metrics is not None:
                self.metrics.backend_error(name, _code(e))
            log_backend_failure(name, self.address, e)
            raise


class _Throttle:
    """Admits one event per key every `every` seconds and counts the ones it held back."""

    def __init__(self):
        self._last: dict = {}
        self._held: dict = {}
        self._lock = threading.Lock()

    def admit(self, key, every: float) -> int | None:
        """None: stay quiet; else the events of `key` held back since the last one admitted."""
        now = time.monotonic()
        with self._lock:
            if key in self._last and now - self._last[key] < every:
                self._held[key] = self._held.get(key, 0) + 1
                return None
            self._last[key] = now
            return self._held.pop(key, 0)


_THROTTLE = _Throttle()


def log_backend_failure(
    call: str, address: str, error: grpc.RpcError, every: float = BACKEND_LOG_SECONDS
) -> None:
    """A WARNING for a failed PredictionService call: at most one per `every` seconds per address
    and code, counting the failures left unlogged meanwhile. INVALID_ARGUMENT, NOT_FOUND and
    OUT_OF_RANGE are the request's fault, passed on to its client, and not logged."""
    code = _code(error)
    if code in _REQUEST_CODES:
        return
    held = _THROTTLE.admit((address, code), every)
    if held is None:
        return
    details = error.details() if hasattr(error, "details") else str(error)
    more = (
        f" ({held} more {code.name} failures at this address since the last such line)"
        if held
        else ""
    )
    log.warning(
        "PredictionService %s at %s failed: %s: %s%s", call, address, code.name, details, more
    )


def _code(error) -> grpc.StatusCode:
    return error.code() if hasattr(error, "code") else grpc.StatusCode.UNKNOWN


def _model_name(message) -> str:
    if message is None:
        return ""
    spec = getattr(message, "model_spec", None)
    return spec.name if spec is not None else str(getattr(message, "model_name", "") or "")


def _version(response) -> str:
    spec = getattr(response, "model_spec", None)
    if spec is not None:
        return str(spec.version.value) if spec.HasField("version") else ""
    version = getattr(response, "model_version", None)
    return str(version) if isinstance(version, int) and version else ""
