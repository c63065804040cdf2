"""ServingError: a request the server refuses, with the gRPC status and a message naming the field."""

from __future__ import annotations

import grpc


class ServingError(Exception):
    """A refused request: `code` is the gRPC status, the message names the offending field.

    Example:

    >>> raise ServingError(grpc.StatusCode.NOT_FOUND, "Model 'ple' version 7 is not served.")
    """

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code, self.message = code, message

    @classmethod
    def invalid(cls, message: str) -> "ServingError":
        return cls(grpc.StatusCode.INVALID_ARGUMENT, message)

    @classmethod
    def not_found(cls, message: str) -> "ServingError":
        return cls(grpc.StatusCode.NOT_FOUND, message)

    def abort(self, context) -> None:
        """End the RPC with this status (raises, as `grpc.ServicerContext.abort` does)."""
        context.abort(self.code, self.message)
