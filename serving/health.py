"""Health: the standard `grpc.health.v1.Health` service, one status per service name.

What load balancers and `grpc_health_probe` ask. The overall status (service "") is
NOT_SERVING until the port opens, SERVING while it is open, and NOT_SERVING for good once
`shut_down` is called as a stop begins, so a probe sees the server leave before its port
closes. A name never `set` is NOT_FOUND to Check (SERVICE_UNKNOWN to Watch).

Example:

>>> import grpc
>>> from concurrent import futures
>>> server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
>>> health = Health()
>>> health.add_to(server)                       # before the server starts
>>> health.serving(["tfmtl.serving.RankingService"])
>>> health.set("ple", serving=False)            # a model with no version loaded
>>> health.shut_down()                          # stop begins: everything NOT_SERVING
"""

from __future__ import annotations

from grpc_health.v1 import health, health_pb2, health_pb2_grpc

SERVICE_NAME = health.SERVICE_NAME
_STATUS = health_pb2.HealthCheckResponse


class Health:
    """One server's health statuses, served by grpcio-health-checking's `HealthServicer`."""

    def __init__(self):
        self.servicer = health.HealthServicer()
        self.servicer.set(health.OVERALL_HEALTH, _STATUS.NOT_SERVING)

    def add_to(self, server) -> None:
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, server)

    def serving(self, services) -> None:
        """The port is open: the server and each of `services` (full names) are SERVING."""
        for name in (*services, health.OVERALL_HEALTH):
            self.servicer.set(name, _STATUS.SERVING)

    def set(self, service: str, serving: bool) -> None:
        """SERVING or NOT_SERVING for `service` (ignored once `shut_down` was called)."""
        self.servicer.set(service, _STATUS.SERVING if serving else _STATUS.NOT_SERVING)

    def shut_down(self) -> None:
        """Every status NOT_SERVING, for good: the server is stopping."""
        self.servicer.enter_graceful_shutdown()
