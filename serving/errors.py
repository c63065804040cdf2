"""ServingError: a request the server refuses, with the gRPC status and a message naming the field.

What reaches a client is bounded and says nothing of the server's insides: a message is cut
to `MAX_MESSAGE_CHARS` (gRPC carries it in a trailer of at most 16 KB; past that the client
gets "Stream removed" and loses it), values echoed from the request are cut by `shown`, and
absolute paths are reduced to their last component by `public`.

Example:

>>> ServingError(grpc.StatusCode.NOT_FOUND, "Model 'ple' version 7 is not served.").code
<StatusCode.NOT_FOUND: (5, 'not found')>
>>> shown("x" * 500)[-11:]
'(500 chars)'
>>> public("No version under /srv/models/ple")
'No version under .../ple'

"""

from __future__ import annotations

import functools
import logging
import re

import grpc

from tfmtl.contract import shown  # noqa: F401 - serving's messages quote values through it

log = logging.getLogger("tfmtl.serving")

MAX_MESSAGE_CHARS = 2_000
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s'\"/,;:()\[\]]+/)+([^\s'\"/,;:()\[\]]*)")


def public(message: str) -> str:
    """`message` fit for a client: absolute paths cut to `.../last`, length capped."""
    message = _ABSOLUTE_PATH.sub(lambda m: ".../" + m.group(1), message)
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 20] + f"... ({len(message)} chars)"
    return message


class ServingError(Exception):
    """A refused request: `code` is the gRPC status, the message names the offending field."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code, self.message = code, message

    @classmethod
    def invalid(cls, message: str) -> "ServingError":
        return cls(grpc.StatusCode.INVALID_ARGUMENT, message)

    @classmethod
    def not_found(cls, message: str) -> "ServingError":
        return cls(grpc.StatusCode.NOT_FOUND, message)

    @classmethod
    def exhausted(cls, message: str) -> "ServingError":
        return cls(grpc.StatusCode.RESOURCE_EXHAUSTED, message)

    def abort(self, context) -> None:
        """End the RPC with this status (raises, as `grpc.ServicerContext.abort` does)."""
        context.abort(self.code, public(self.message))


def guarded(method):
    """Run an RPC method so that no request can kill the server: a `ServingError` becomes its
    status; anything else is logged with its traceback and answered INTERNAL, without the
    exception's text (it may hold paths and internals)."""

    @functools.wraps(method)
    def wrapper(self, request, context):
        try:
            return method(self, request, context)
        except ServingError as e:
            e.abort(context)
        except Exception:  # noqa: BLE001 - the server outlives every request
            log.exception("%s failed", method.__name__)
            context.abort(
                grpc.StatusCode.INTERNAL,
                f"{method.__name__} failed inside the server; its log has the details.",
            )

    return wrapper
