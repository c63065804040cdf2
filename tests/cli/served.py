"""The check every front-door test ends with: the run exports, serves and ranks like Keras."""

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
    from tfmtl.serving import RankingServer, serve

    base, family = base_path.parent, base_path.name
    assert main(["export", "--model", str(run), "--base", str(base), "--name", family]) == 0
    capsys.readouterr()
    prediction = serve(base / family, family, port=0, poll_seconds=0)
    ranking = RankingServer(prediction.address, port=0).start()
    try:
        assert main(["inspect", str(base / family), "--request", "--candidates", "4"]) == 0
        request = json.loads(capsys.readouterr().out)
        (tmp_path / "q.json").write_text(json.dumps(request))
        assert (
            main(
                [
                    "rank",
                    "--ranking_service",
                    ranking.address,
                    "--model_name",
                    family,
                    "--request",
                    f"@{tmp_path / 'q.json'}",
                    "--json",
                ]
            )
            == 0
        )
        response = json.loads(capsys.readouterr().out)
    finally:
        ranking.stop(grace=0)
        prediction.stop(grace=0)
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
