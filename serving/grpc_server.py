"""GrpcServer: the lifecycle both servers share (bind, start, stop, wait, context manager).

A subclass names itself (`kind`, for messages and logs) and adds its services in
`add_services`; everything about the port is here once: the thread pool, the message-size
options, the concurrency limit that sheds load with RESOURCE_EXHAUSTED instead of queueing
without bound, and the bind that fails loudly. Every server also gets the `grpc.health.v1`
Health service (`tfmtl.serving.health`), server reflection over the services it registered,
and its Prometheus metrics (`tfmtl.serving.metrics`, over HTTP when given `metrics_port`).

Example:

>>> class Echo(GrpcServer):
...     kind = "EchoService"
...     def add_services(self, server):
...         pass
>>> with Echo(port=0) as server:
...     server.port > 0
True
"""

from __future__ import annotations

import logging
from concurrent import futures

import grpc
from grpc_reflection.v1alpha import reflection

from tfmtl.serving.health import SERVICE_NAME as HEALTH_SERVICE_NAME
from tfmtl.serving.health import Health
from tfmtl.serving.metrics import ServerMetrics
from tfmtl.serving.tls import ServerTls

log = logging.getLogger("tfmtl.serving")

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
MESSAGE_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]
# gRPC sets SO_REUSEPORT by default, so a second server on a taken port would bind and silently
# share it; without it the bind fails and `_bind` names the port that was asked for.
SERVER_OPTIONS = [*MESSAGE_OPTIONS, ("grpc.so_reuseport", 0)]


class GrpcServer:
    """One gRPC port serving the services a subclass adds.

    Args:
        port: int. 0 picks a free port (read `.port` after `start`).
        host: str. Interface to bind: "127.0.0.1" (the default) for loopback only, "0.0.0.0" for
            all.
        max_workers: int. Requests computed at once.
        max_concurrent_requests: int or None. Requests admitted at once (computing or queued);
            one more is refused at once with RESOURCE_EXHAUSTED. None: 4 x `max_workers`.
        metrics_port: int or None. HTTP port serving `/metrics` on `host` (0: a free one, read
            `.metrics_port` after `start`). None: no metrics server (they are still collected).
        tls: `tfmtl.serving.tls.ServerTls` or None. Serve the port over TLS (mutual TLS when it
            has a `client_ca`). None: plaintext.
    """

    kind = "gRPC server"
    metric_labels: tuple = ()  # extra labels on tfmtl_requests_total, read from each response

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        max_workers: int = 16,
        max_concurrent_requests: int | None = None,
        metrics_port: int | None = None,
        tls: ServerTls | None = None,
    ):
        self.host, self.port, self.max_workers = host, int(port), int(max_workers)
        self.tls = tls
        self.max_concurrent_requests = int(max_concurrent_requests or 4 * self.max_workers)
        self.metrics_port = None if metrics_port is None else int(metrics_port)
        self.metrics = ServerMetrics(self.metric_labels)
        self.health: Health | None = None
        self._server = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def add_services(self, server: grpc.Server) -> None:
        """Register this server's servicers on `server` (called once by `start`)."""
        raise NotImplementedError

    def on_start(self) -> None:
        """Before the port opens: load what the services need."""

    def on_stop(self) -> None:
        """After the port closed: release what `on_start` took."""

    def start(self):
        self.health = Health()
        self.on_start()
        try:
            self._open()
        except BaseException:
            self.stop(
                grace=0
            )  # a port that would not bind leaves no model manager or thread behind
            raise
        return self

    def _open(self) -> None:
        prefix = "tfmtl-" + self.kind.lower().replace("service", "")
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix=prefix),
            options=SERVER_OPTIONS,
            maximum_concurrent_rpcs=self.max_concurrent_requests,
            interceptors=[self.metrics.interceptor()],
        )
        services = _Registrations(self._server)
        self.add_services(services)
        self.health.add_to(self._server)
        listed = (*services.names, HEALTH_SERVICE_NAME, reflection.SERVICE_NAME)
        reflection.enable_server_reflection(listed, self._server)
        self.port = self._bind(f"{self.host}:{self.port}")
        if self.metrics_port is not None:
            self._serve_metrics()
        self._server.start()
        self.health.serving(services.names)

    def _bind(self, address: str) -> int:
        """Bind `address` (the port asked for, before gRPC picks one) and return the bound port."""
        try:
            if self.tls is None:
                port = self._server.add_insecure_port(address)
            else:
                port = self._server.add_secure_port(address, self.tls.credentials())
        except RuntimeError:
            port = 0
        if port:
            return port
        if self.tls is None:
            raise OSError(
                f"Could not bind the {self.kind} to {address}: is the port taken, or is the host "
                "not an interface of this machine?"
            )
        raise OSError(
            f"Could not bind the {self.kind} to {address} with TLS: is the port taken, or are the "
            "certificate chain and private key (--tls_cert, --tls_key) not a matching pair?"
        )

    def _serve_metrics(self) -> None:
        try:
            self.metrics_port = self.metrics.serve_http(self.host, self.metrics_port)
        except (OSError, OverflowError) as e:
            reason = getattr(e, "strerror", None) or e
            raise OSError(
                f"Could not bind the {self.kind}'s metrics_port to "
                f"{self.host}:{self.metrics_port}: {reason}."
            ) from None

    def stop(self, grace: float = 2.0) -> None:
        """Report NOT_SERVING, refuse new requests, let in-flight ones finish within `grace`
        seconds.
        """
        if self.health is not None:
            self.health.shut_down()
        if self._server is not None:
            self._server.stop(grace).wait()
            self._server = None
        self.metrics.close()
        self.on_stop()

    def wait(self) -> None:
        self._server.wait_for_termination()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _Registrations:
    """The `grpc.Server` that `add_services` sees: notes the full name of each service added."""

    def __init__(self, server: grpc.Server):
        self._server, self.names = server, []

    def add_generic_rpc_handlers(self, handlers) -> None:
        self.names += [h.service_name() for h in handlers if hasattr(h, "service_name")]
        self._server.add_generic_rpc_handlers(handlers)

    def __getattr__(self, name):
        return getattr(self._server, name)
