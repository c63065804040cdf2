"""The check every front-door test ends with: the run exports, serves and ranks like Keras.

With the servers (`ranking_service`) and the `tfmtl rank --json` call (`rank_json`) it uses.
"""

import contextlib
import json

import keras
import numpy as np

from tfmtl.cli import main
from tfmtl.export import load_exportable


def assert_serves_like_keras(run, base_path, tmp_path, capsys) -> None:
    """`tfmtl export`s `run` to `base_path`, serves it (the embedded PredictionService and the
    ranking service, real servers on loopback), ranks `tfmtl inspect`'s example request with
    `tfmtl rank`, and asserts every candidate's task scores equal the Keras model's heads (a
    model trained on ids, as on JAX, with its lookups restored as export restores them)."""
    base, family = base_path.parent, base_path.name
    assert main(["export", "--model", str(run), "--base", str(base), "--name", family]) == 0
    capsys.readouterr()
    with ranking_service(base_path) as ranking:
        assert main(["inspect", str(base_path), "--request", "--candidates", "4"]) == 0
        request = json.loads(capsys.readouterr().out)
        (tmp_path / "q.json").write_text(json.dumps(request))
        response = rank_json(ranking, family, capsys, "--request", f"@{tmp_path / 'q.json'}")
    assert len(response["candidates"]) == 4
    keras_model = load_exportable(run / "model.keras")  # raw inputs, lookups restored
    spec = keras_model.feature_spec
    for scored in response["candidates"]:
        row = {**request.get("context", {}), **request["candidates"][scored["id"]]}
        x = {
            n: keras.ops.convert_to_tensor(
                np.asarray(
                    [row[n]],
                    dtype=spec.input_dtype(n) if spec.input_dtype(n) != "string" else object,
                )
            )
            for n in spec.names
        }
        heads = keras_model(x)
        assert scored["task_scores"], scored
        for task, score in scored["task_scores"].items():
            np.testing.assert_allclose(
                score, float(np.asarray(heads[task]).reshape(-1)[0]), rtol=1e-4, atol=1e-5
            )


@contextlib.contextmanager
def ranking_service(base_path):
    """The embedded PredictionService over `base_path` (BASE/NAME) and a ranking service in
    front of it, real servers on loopback ports; yields the `RankingServer`."""
    from tfmtl.serving import RankingServer, serve

    prediction = serve(base_path, base_path.name, port=0, poll_seconds=0)
    ranking = RankingServer(prediction.address, port=0).start()
    try:
        yield ranking
    finally:
        ranking.stop(grace=0)
        prediction.stop(grace=0)


def rank_json(ranking, model_name: str, capsys, *flags: str) -> dict:
    """`tfmtl rank --json` against `ranking` with `flags`: the response, parsed."""
    argv = ["rank", "--ranking_service", ranking.address, "--model_name", model_name, *flags]
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)
