"""ModelManager: watches `BASE/NAME/`, loads the versions its policy wants, unloads the rest.

Like TF Serving's file-system source: every `poll_seconds` it lists the integer-named
version directories, loads the wanted versions that are new (off the request path: the
serving set is swapped in one step once they are ready, so in-flight requests finish on the
version they started with), and unloads versions the policy no longer wants. A version that
fails to load (half-written, corrupt, failing warmup) is logged, reported by GetModelStatus,
skipped in favour of the next good one, and retried only when its files change.

Example:

>>> import tempfile
>>> spec = tfmtl.FeatureSpec([tfmtl.DenseFeature("x0")])
>>> tasks = [tfmtl.Task("click"), tfmtl.Task("finish")]
>>> model = tfmtl.models.build_model("mmoe", spec, tasks, num_experts=2, expert_units=[4])
>>> version_dir = tfmtl.export.export_saved_model(model, tempfile.mkdtemp(), "ple")
>>> manager = ModelManager(version_dir.parent, "ple", policy="latest").start()
>>> manager.resolve(version=None).version
1
>>> manager.stop()
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path

from tfmtl.export import staging
from tfmtl.serving.errors import ServingError, shown
from tfmtl.serving.servable import Servable
from tfmtl.serving.version_policy import VersionPolicy

log = logging.getLogger("tfmtl.serving")


@dataclasses.dataclass
class VersionState:
    """What GetModelStatus reports for one version."""

    version: int
    state: str  # LOADING | AVAILABLE | END
    error: str = ""


class ModelManager:
    """Serves the versions of one model found under `base_path`.

    Args:
        base_path: str or Path. `BASE/NAME`: holds one directory per integer version.
        name: str. The model name clients put in `model_spec.name`.
        policy: str or VersionPolicy. `"latest"`, `"latest:N"`, `"all"`, `"specific:1,2"`.
        poll_seconds: float. How often to look for new versions (0: only on `poll()`).
        version_labels: dict. Label -> version, for `model_spec.version_label`.
        warmup: bool. Replay `assets.extra/tf_serving_warmup_requests` before serving.

    `listeners`: callables, each called with the sorted serving versions after every poll
    (the PredictionServer's health and metrics follow loads and unloads this way).
    """

    def __init__(
        self,
        base_path,
        name: str,
        policy="latest",
        poll_seconds: float = 1.0,
        version_labels: dict | None = None,
        warmup: bool = True,
    ):
        self.base_path, self.name = Path(base_path), name
        self.policy = policy if isinstance(policy, VersionPolicy) else VersionPolicy.parse(policy)
        self.poll_seconds, self.warmup = float(poll_seconds), warmup
        self.version_labels = {str(k): int(v) for k, v in (version_labels or {}).items()}
        self._serving: dict[int, Servable] = {}
        self._states: dict[int, VersionState] = {}
        self._failed: dict[int, tuple] = {}  # version -> fingerprint of the files that failed
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self.listeners: list = []

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> "ModelManager":
        """Remove staging folders killed exports left, load what is there now, then poll in the
        background.
        """
        try:
            staging.clean_stale(self.base_path)
        except OSError as e:  # a read-only model volume is served all the same
            log.warning(
                "Model '%s': could not clean stale staging folders in %s: %s",
                self.name,
                self.base_path,
                e,
            )
        self.poll()
        if self.poll_seconds > 0:
            self._thread = threading.Thread(
                target=self._run, name=f"tfmtl-poll-{self.name}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:  # noqa: BLE001 - the poller must outlive any one bad poll
                log.exception(
                    "Model '%s': polling %s failed; will retry.", self.name, self.base_path
                )

    # -- polling ----------------------------------------------------------------------------
    def poll(self) -> list[int]:
        """One pass over the base path; returns the versions serving afterwards."""
        with self._poll_lock:
            on_disk = self._versions_on_disk()
            for v in [
                v
                for v in self._failed
                if v not in on_disk or _fingerprint(on_disk[v]) != self._failed[v]
            ]:
                del self._failed[v]  # gone, or its files changed: worth another try
            loaded = dict(self._serving)
            while True:
                wanted = self.policy.select(v for v in on_disk if v not in self._failed)
                new = [v for v in wanted if v not in loaded]
                if not new:
                    break
                for v in new:
                    servable = self._load(v, on_disk[v])
                    if servable is not None:
                        loaded[v] = servable
            serving = {v: loaded[v] for v in wanted}
            with self._lock:
                previous, self._serving = self._serving, serving
                for v in serving:
                    self._states[v] = VersionState(v, "AVAILABLE")
                for v in set(previous) - set(serving):
                    self._states[v] = VersionState(v, "END")
            for v in sorted(set(previous) - set(serving)):
                log.info("Model '%s': unloaded version %d.", self.name, v)
            if not serving and on_disk:
                log.warning("Model '%s': no servable version under %s.", self.name, self.base_path)
            for listener in self.listeners:
                try:
                    listener(sorted(serving))
                except Exception:  # noqa: BLE001 - a listener must not stop the versions changing
                    log.exception("Model '%s': a version listener failed.", self.name)
            return sorted(serving)

    def _versions_on_disk(self) -> dict[int, Path]:
        if not self.base_path.is_dir():
            return {}
        return {int(p.name): p for p in self.base_path.iterdir() if p.is_dir() and p.name.isdigit()}

    def _load(self, version: int, path: Path):
        with self._lock:
            self._states[version] = VersionState(version, "LOADING")
        fingerprint = _fingerprint(path)
        try:
            servable = Servable.load(self.name, version, path, warmup=self.warmup)
        except Exception as e:  # noqa: BLE001 - a bad version must never stop the good ones
            reason = getattr(e, "message", None) or str(e) or type(e).__name__
            log.error(
                "Model '%s': version %d at %s failed to load and is skipped: %s",
                self.name,
                version,
                path,
                reason,
            )
            self._failed[version] = fingerprint
            with self._lock:
                self._states[version] = VersionState(
                    version, "END", f"{type(e).__name__}: {reason}"
                )
            return None
        log.info("Model '%s': loaded version %d from %s.", self.name, version, path)
        return servable

    # -- requests ---------------------------------------------------------------------------
    @property
    def versions(self) -> list[int]:
        with self._lock:
            return sorted(self._serving)

    def resolve(self, version: int | None = None, label: str | None = None) -> Servable:
        """The servable for a request: a version, a label, or (neither) the highest serving."""
        with self._lock:
            serving = dict(self._serving)
        if label:
            if label not in self.version_labels:
                raise ServingError.not_found(
                    f"model_spec.version_label {shown(label)} is not defined for model "
                    f"'{self.name}'. "
                    f"Labels: {sorted(self.version_labels)}."
                )
            version = self.version_labels[label]
        if version is None:
            if not serving:
                raise ServingError.not_found(f"Model '{self.name}' has no servable version yet.")
            return serving[max(serving)]
        if version not in serving:
            raise ServingError.not_found(
                f"model_spec.version {version} of model '{self.name}' is not available. "
                f"Serving versions: {sorted(serving)}."
            )
        return serving[version]

    def states(self, version: int | None = None) -> list[VersionState]:
        with self._lock:
            states = dict(self._states)
        if version is not None:
            if version not in states:
                raise ServingError.not_found(
                    f"model_spec.version {version} of model '{self.name}' is unknown. Known "
                    f"versions: {sorted(states)}."
                )
            return [states[version]]
        return [states[v] for v in sorted(states, reverse=True)]


def _fingerprint(path: Path) -> tuple:
    """Names, sizes and mtimes of a version's files: changes when the version is rewritten."""
    try:
        return tuple(
            sorted(
                (str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns)
                for p in path.rglob("*")
                if p.is_file()
            )
        )
    except OSError:
        return ()
