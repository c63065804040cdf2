"""The README's Python snippet runs as written."""

import re
import subprocess
import sys
from pathlib import Path


def test_readme_python_snippet_runs(tmp_path):
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    snippets = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert snippets, "README has no Python snippet"
    for code in snippets:
        code = code.replace("epochs=3", "epochs=1")  # the same calls, one epoch
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert "'auc'" in done.stdout or "'mse'" in done.stdout
