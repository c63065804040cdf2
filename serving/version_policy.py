"""Which versions of a model to serve, as TF Serving's `model_version_policy`.

- `"latest"` (default) or `"latest:N"`: the N highest versions;
- `"all"`: every version on disk;
- `"specific:1,3"`: exactly these versions.

Example:

>>> VersionPolicy.parse("latest:2").select([1, 2, 5])
[2, 5]
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    kind: str = "latest"
    count: int = 1
    versions: tuple = ()

    @classmethod
    def parse(cls, text: str) -> "VersionPolicy":
        kind, _, arg = (text or "latest").strip().partition(":")
        try:
            if kind == "latest":
                count = int(arg) if arg else 1
                if count < 1:
                    raise ValueError
                return cls("latest", count=count)
            if kind == "all" and not arg:
                return cls("all")
            if kind == "specific" and arg:
                return cls("specific", versions=tuple(sorted({int(v) for v in arg.split(",")})))
        except ValueError:
            pass
        raise ValueError(
            f"Version policy {text!r} is not one of 'latest', 'latest:N' (N >= 1), 'all', "
            "'specific:V1,V2,...'."
        )

    def select(self, versions) -> list[int]:
        """The versions to serve out of the loadable `versions` on disk, ascending."""
        versions = sorted(set(versions))
        if self.kind == "latest":
            return versions[-self.count :]
        if self.kind == "all":
            return versions
        return [v for v in versions if v in self.versions]

    def __str__(self) -> str:
        if self.kind == "latest":
            return "latest" if self.count == 1 else f"latest:{self.count}"
        if self.kind == "all":
            return "all"
        return "specific:" + ",".join(map(str, self.versions))
