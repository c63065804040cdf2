"""Server-side batching: concurrent small Predicts merged into one model call.

As `tensorflow_model_server --enable_batching`: requests to the same model version,
signature and output set, whose inputs have the same dtypes and trailing shapes, are queued
together; the first of a batch waits up to `batch_timeout_micros` for company (longer while
every batch thread is busy), then the batch is concatenated along axis 0, run as one
`Servable.run`, and each request gets its own rows back. A request of more than
`max_batch_size` rows runs alone, unsplit. Requests are validated before they are queued
(`tfmtl.serving.validation`), so a bad one is refused on its own and never spoils a batch.

Example:

>>> import tempfile
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0")])
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("finish")]
>>> model = tfmtl.models.build_model("mmoe", spec, tasks, num_experts=2, expert_units=[4])
>>> version_dir = tfmtl.export.export_saved_model(model, tempfile.mkdtemp(), "ple")
>>> servable = tfmtl.serving.servable.Servable.load("ple", 1, version_dir)
>>> batcher = Batcher(BatchingOptions(max_batch_size=128, batch_timeout_micros=2000))
>>> arrays = {"x0": np.zeros(3, np.float32)}
>>> out = batcher.run(servable, "serving_default", arrays, ["click"])  # from many threads
>>> out["click"].shape
(3,)
>>> batcher.close()
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from collections import deque
from pathlib import Path

import grpc
import numpy as np

from tfmtl.serving.errors import ServingError

log = logging.getLogger("tfmtl.serving")

_TOKEN = re.compile(r"\s*(?:(#.*)|[A-Za-z_]\w*|[-+]?[\w.]+|[{}:])")


@dataclasses.dataclass(frozen=True)
class BatchingOptions:
    """How Predict requests are merged (TF Serving's `BatchingParameters`).

    Args:
        max_batch_size: int. Most rows in one merged model call. Defaults to `256`.
        batch_timeout_micros: int. How long the first request of a batch waits for company
            (0: none; requests arriving while every batch thread is busy still merge).
            Defaults to `1000`.
        num_batch_threads: int. Merged calls run at once. Defaults to `2`.
        max_enqueued_batches: int. Batches one merge key may queue (the filling one
            included); a request needing one more is refused at once with RESOURCE_EXHAUSTED.
            Defaults to `64`.
    """

    max_batch_size: int = 256
    batch_timeout_micros: int = 1000
    num_batch_threads: int = 2
    max_enqueued_batches: int = 64

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            least = 0 if field.name == "batch_timeout_micros" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(
                    f"BatchingOptions.{field.name} must be an int >= {least}. Received: "
                    f"{field.name}={value!r}."
                )


def read_batching_parameters(path) -> BatchingOptions:
    """`BatchingOptions` from TF Serving's `--batching_parameters_file` (BatchingParameters text).

    Reads `max_batch_size`, `batch_timeout_micros`, `num_batch_threads` and
    `max_enqueued_batches`, each written `max_batch_size { value: 128 }` (on one line or
    several, `#` comments allowed); a field left out keeps its default. Anything else is a
    `ValueError` naming the file, line and field.

    Args:
        path: str or Path. The text proto file.
    """
    path = Path(path)
    fields = [f.name for f in dataclasses.fields(BatchingOptions)]
    tokens = _tokens(path.read_text(), path)
    values, at = {}, 0

    def expect(want: str, field: str) -> None:
        nonlocal at
        if at >= len(tokens) or tokens[at][1] != want:
            line, got = tokens[at] if at < len(tokens) else (tokens[-1][0], "end of file")
            raise ValueError(
                f"{path}:{line}: field '{field}' reads '{got}' where '{want}' belongs; write "
                f"`{field} {{ value: N }}`."
            )
        at += 1

    while at < len(tokens):
        line, field = tokens[at]
        if field not in fields:
            raise ValueError(
                f"{path}:{line}: field '{field}' is not supported; this server reads {fields}."
            )
        at += 1
        if at < len(tokens) and tokens[at][1] == ":":
            at += 1
        expect("{", field)
        expect("value", field)
        expect(":", field)
        if at >= len(tokens):
            raise ValueError(
                f"{path}:{line}: field '{field}' has no value; write `{field} {{ value: N }}`."
            )
        line, text = tokens[at]
        at += 1
        try:
            BatchingOptions(**{field: int(text)})
        except ValueError:
            least = 0 if field == "batch_timeout_micros" else 1
            raise ValueError(
                f"{path}:{line}: field '{field}' has value '{text}'; expected a whole number "
                f">= {least}."
            ) from None
        expect("}", field)
        values[field] = int(text)
    return BatchingOptions(**values)


def _tokens(text: str, path: Path) -> list[tuple[int, str]]:
    """(line number, token) pairs, comments dropped."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        at = 0
        while at < len(line.rstrip()):
            match = _TOKEN.match(line, at)
            if match is None:
                raise ValueError(
                    f"{path}:{number}: cannot read {line[at:].strip()[:40]!r}; expected "
                    "`field { value: N }`."
                )
            at = match.end()
            if match.group(1) is None:
                out.append((number, match.group(0).strip()))
    return out


@dataclasses.dataclass
class _Item:
    arrays: dict
    outputs: list
    rows: int
    done: threading.Event = dataclasses.field(default_factory=threading.Event)
    result: dict | None = None
    error: ServingError | None = None


@dataclasses.dataclass
class _Queue:
    """One merge key's batches: `open` is filling; `count` also holds those awaiting a thread."""

    key: tuple
    open: _Batch | None = None
    count: int = 0


@dataclasses.dataclass
class _Batch:
    queue: _Queue
    servable: object
    signature: str
    outputs: list
    deadline: float
    items: list = dataclasses.field(default_factory=list)
    rows: int = 0


class Batcher:
    """Merges `run` calls from many request threads; see the module docstring.

    Args:
        options: `BatchingOptions`.

    `calls` counts merged model calls and `requests` the requests they answered.
    """

    def __init__(self, options: BatchingOptions):
        self.options = options
        self.calls = self.requests = 0
        self._timeout = options.batch_timeout_micros / 1e6
        self._cond = threading.Condition()
        self._queues: dict[tuple, _Queue] = {}
        self._ready: deque[_Batch] = deque()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, name=f"tfmtl-batch-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def queued(self) -> int:
        """Requests waiting in a batch that no thread has taken yet."""
        with self._cond:
            batches = [*self._ready, *(q.open for q in self._queues.values() if q.open is not None)]
            return sum(len(b.items) for b in batches)

    def run(self, servable, signature: str, arrays: dict, outputs: list[str]) -> dict:
        """`servable.run(signature, arrays, outputs)`, merged with concurrent calls like it."""
        rows = len(next(iter(arrays.values()))) if arrays else 0
        if rows == 0:
            return servable.run(signature, arrays, outputs)
        shapes = tuple((k, v.dtype.str, v.shape[1:]) for k, v in sorted(arrays.items()))
        key = (id(servable), signature, tuple(sorted(outputs)), shapes)
        item = _Item(arrays, list(outputs), rows)
        with self._cond:
            self._enqueue(key, item, servable, signature)
        item.done.wait()
        if item.error is not None:
            raise ServingError(item.error.code, item.error.message)
        return item.result

    def close(self, timeout: float = 10.0) -> None:
        """Cancel queued requests with UNAVAILABLE, let running batches finish, stop the threads."""
        with self._cond:
            self._closed = True
            pending = [*self._ready, *(q.open for q in self._queues.values() if q.open is not None)]
            self._ready.clear()
            self._queues.clear()
            self._cond.notify_all()
        error = ServingError(
            grpc.StatusCode.UNAVAILABLE,
            "The server is stopping; this queued request was not run. Retry it elsewhere.",
        )
        for batch in pending:
            _finish(batch.items, error=error)
        for thread in self._threads:
            thread.join(timeout)

    def _enqueue(self, key: tuple, item: _Item, servable, signature: str) -> None:
        if self._closed:
            raise ServingError(
                grpc.StatusCode.UNAVAILABLE,
                "The server is stopping; retry against a running server.",
            )
        limit = self.options.max_batch_size
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue(key)
        batch = queue.open
        if batch is not None and (batch.rows + item.rows > limit or item.rows > limit):
            self._close_open(queue)
            batch = None
        if batch is None:
            if queue.count >= self.options.max_enqueued_batches:
                raise ServingError.exhausted(
                    f"The batching queue of model '{servable.name}' version {servable.version} "
                    f"signature '{signature}' is full: {queue.count} batches waiting, the limit "
                    f"max_enqueued_batches={self.options.max_enqueued_batches} "
                    "(--max_enqueued_batches). Retry later."
                )
            batch = _Batch(
                queue, servable, signature, sorted(item.outputs), time.monotonic() + self._timeout
            )
            queue.open, queue.count = batch, queue.count + 1
        batch.items.append(item)
        batch.rows += item.rows
        if batch.rows >= limit:
            self._close_open(queue)
        elif len(batch.items) == 1:
            self._cond.notify()

    def _close_open(self, queue: _Queue) -> None:
        self._ready.append(queue.open)
        queue.open = None
        self._cond.notify()

    def _take(self) -> _Batch | None:
        """The next batch to run: a ready one, else a filling one whose wait is up; or None."""
        if self._ready:
            batch = self._ready.popleft()
        else:
            now = time.monotonic()
            due = [
                q.open
                for q in self._queues.values()
                if q.open is not None and q.open.deadline <= now
            ]
            if not due:
                return None
            batch = min(due, key=lambda b: b.deadline)
            batch.queue.open = None
        batch.queue.count -= 1
        if batch.queue.count == 0 and self._queues.get(batch.queue.key) is batch.queue:
            del self._queues[batch.queue.key]
        return batch

    def _wait_seconds(self) -> float | None:
        deadlines = [q.open.deadline for q in self._queues.values() if q.open is not None]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _work(self) -> None:
        while True:
            with self._cond:
                batch = self._take()
                while batch is None:
                    if self._closed:
                        return
                    self._cond.wait(self._wait_seconds())
                    batch = self._take()
                self.calls += 1
                self.requests += len(batch.items)
            self._run(batch)

    def _run(self, batch: _Batch) -> None:
        items = batch.items
        try:
            if len(items) == 1:
                result = batch.servable.run(batch.signature, items[0].arrays, batch.outputs)
                items[0].result = {k: result[k] for k in items[0].outputs}
            else:
                merged = {k: np.concatenate([i.arrays[k] for i in items]) for k in items[0].arrays}
                result = batch.servable.run(batch.signature, merged, batch.outputs)
                _split(result, items, batch)
        except ServingError as e:
            _finish(items, error=e)
        except Exception:  # noqa: BLE001 - one failed batch must not stop the batch thread
            log.exception(
                "A merged Predict of %d request(s) to model '%s' version %s failed",
                len(items),
                batch.servable.name,
                batch.servable.version,
            )
            _finish(
                items,
                error=ServingError(
                    grpc.StatusCode.INTERNAL,
                    "Predict failed inside the server; its log has the details.",
                ),
            )
        else:
            _finish(items)


def _split(result: dict, items: list, batch: _Batch) -> None:
    """Hand each request its rows of the merged `result`."""
    for key, value in result.items():
        if np.ndim(value) == 0 or len(value) != batch.rows:
            raise ServingError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Output '{key}' of signature '{batch.signature}' of model '{batch.servable.name}' "
                f"has shape {list(np.shape(value))} for a merged batch of {batch.rows} rows: "
                "batching needs every output batched on axis 0. Serve this model without "
                "--enable_batching.",
            )
    start = 0
    for item in items:
        stop = start + item.rows
        item.result = {k: result[k][start:stop] for k in item.outputs}
        start = stop


def _finish(items: list, error: ServingError | None = None) -> None:
    for item in items:
        item.error = error
        item.done.set()
