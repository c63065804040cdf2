"""GrpcServer: the lifecycle both servers share (bind, start, stop, wait, context manager).

A subclass names itself (`kind`, for messages and logs) and adds its services in
`add_services`; everything about the port is here once: the thread pool, the message-size
options, the concurrency limit that sheds load with RESOURCE_EXHAUSTED instead of queueing
without bound, and the bind that fails loudly.

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

log = logging.getLogger("tfmtl.serving")

MAX_MESSAGE_BYTES = 256 * 1024 * 1024
MESSAGE_OPTIONS = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                   ("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]


class GrpcServer:
    """One gRPC port serving the services a subclass adds.

    Args:
        port: int. 0 picks a free port (read `.port` after `start`).
        host: str. Interface to bind: "127.0.0.1" (the default) for loopback only, "0.0.0.0" for all.
        max_workers: int. Requests computed at once.
        max_concurrent_requests: int or None. Requests admitted at once (computing or queued);
            one more is refused at once with RESOURCE_EXHAUSTED. None: 4 x `max_workers`.
    """

    kind = "gRPC server"

    def __init__(self, port: int = 0, host: str = "127.0.0.1", max_workers: int = 16,
                 max_concurrent_requests: int | None = None):
        self.host, self.port, self.max_workers = host, int(port), int(max_workers)
        self.max_concurrent_requests = int(max_concurrent_requests or 4 * self.max_workers)
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
        self.on_start()
        prefix = "tfmtl-" + self.kind.lower().replace("service", "")
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix=prefix),
            options=MESSAGE_OPTIONS, maximum_concurrent_rpcs=self.max_concurrent_requests,
        )
        self.add_services(self._server)
        wanted = self.port
        self.port = self._server.add_insecure_port(f"{self.host}:{wanted}")
        if self.port == 0:
            raise OSError(f"Could not bind the {self.kind} to {self.host}:{wanted}.")
        self._server.start()
        return self

    def stop(self, grace: float = 2.0) -> None:
        """Stop accepting requests, let in-flight ones finish within `grace` seconds."""
        if self._server is not None:
            self._server.stop(grace).wait()
            self._server = None
        self.on_stop()

    def wait(self) -> None:
        self._server.wait_for_termination()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
