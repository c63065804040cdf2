"""The serving sub-commands: `tfmtl rank` against real servers, argument errors."""

from __future__ import annotations

import json

import pytest

from tests.serving import helpers
from tfmtl import cli


def test_commands_are_registered():
    parser = cli.build_parser()
    for argv, module in (
        (["serve", "--model_base_path", "m/ple", "--model_name", "ple"], "serve"),
        (["rank-server", "--prediction_service", "localhost:8500"], "rank_server"),
        (["rank", "--model_name", "ple", "--request", "{}"], "rank"),
    ):
        assert parser.parse_args(argv).func.__module__ == f"tfmtl.cli.{module}"


def test_rank_prints_the_ranked_table(ranking_server, data, capsys):
    features = helpers.rows(data, 3)
    body = {
        "context": {
            k: (features[k][0].item() if hasattr(features[k][0], "item") else features[k][0])
            for k in ("x0", "segment")
        },
        "candidates": {
            f"c{i}": {k: float(v[i]) for k, v in features.items() if k not in ("x0", "segment")}
            for i in range(3)
        },
    }
    code = cli.main(
        [
            "rank",
            "--ranking_service",
            ranking_server.address,
            "--model_name",
            "ple",
            "--request",
            json.dumps(body),
            "--top_k",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0 and "model 'ple' version 1" in out
    lines = out.strip().splitlines()
    assert "score" in lines[1] and "click" in lines[1] and len(lines) == 5


def test_rank_errors_name_the_problem(ranking_server, capsys):
    assert (
        cli.main(
            [
                "rank",
                "--ranking_service",
                ranking_server.address,
                "--model_name",
                "ple",
                "--request",
                "{not json",
            ]
        )
        == 2
    )
    assert "--request is not valid JSON" in capsys.readouterr().err
    assert (
        cli.main(
            [
                "rank",
                "--ranking_service",
                ranking_server.address,
                "--model_name",
                "ple",
                "--request",
                '{"context": {}, "candidates": {"a": {"x0": 1.0}}}',
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "INVALID_ARGUMENT" in err and "missing" in err


def test_serve_refuses_a_missing_base_path(tmp_path, capsys):
    assert (
        cli.main(
            [
                "serve",
                "--model_base_path",
                str(tmp_path / "nope"),
                "--model_name",
                "ple",
                "--port",
                "0",
            ]
        )
        == 2
    )
    assert "--model_base_path" in capsys.readouterr().err


def test_limit_flags_default_to_the_library_and_refuse_bad_values(capsys):
    from tfmtl.serving import prediction_service, ranking_service

    parser = cli.build_parser()
    serve = parser.parse_args(["serve", "--model_base_path", "m/ple", "--model_name", "ple"])
    rank = parser.parse_args(["rank-server", "--prediction_service", "localhost:8500"])
    assert (
        serve.max_batch_size == prediction_service.DEFAULT_MAX_BATCH_SIZE
        and not serve.allow_non_finite
    )
    assert (
        rank.max_candidates == ranking_service.DEFAULT_MAX_CANDIDATES
        and rank.predict_timeout == 30.0
    )
    assert serve.max_concurrent_requests is None and rank.max_workers == 16
    for argv, flag in (
        (
            ["serve", "--model_base_path", "m", "--model_name", "p", "--max_batch_size", "0"],
            "--max_batch_size",
        ),
        (
            ["rank-server", "--prediction_service", "h:1", "--predict_timeout", "nan"],
            "--predict_timeout",
        ),
        (
            ["rank-server", "--prediction_service", "h:1", "--max_concurrent_requests", "-3"],
            "--max_concurrent_requests",
        ),
    ):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
        assert flag in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model_base_path", "nowhere/ranker", "--model_name", "r"], "is not a directory"),
        (["--model_base_path", "."], "--model_base_path needs --model_name"),
        (["--prediction_service", "h:1", "--model_name", "r"], "--model_name goes with"),
    ],
)
def test_rank_server_in_process_flags_are_checked_in_one_line(argv, message, capsys):
    assert cli.main(["rank-server", *argv, "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_rank_server_takes_one_prediction_service_or_one_model(capsys):
    with pytest.raises(SystemExit):
        cli.main(["rank-server", "--prediction_service", "h:1", "--model_base_path", "m"])
    assert "not allowed with argument" in capsys.readouterr().err
