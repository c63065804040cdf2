"""TLS and mutual TLS on both servers and on the ranking service's channel, real servers on
127.0.0.1.
"""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_service_pb2_grpc

from tests.serving import helpers
from tests.serving.certs import write_certs
from tests.serving.test_prediction_service import predict_request
from tfmtl import cli
from tfmtl.serving import RankingClient, RankingServer, serve
from tfmtl.serving.tls import ChannelTls, ServerTls, channel

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return write_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def stranger(tmp_path_factory):
    """Certificates of another CA, which none of the servers trusts."""
    return write_certs(tmp_path_factory.mktemp("stranger"), ca_name="another CA")


@pytest.fixture(scope="module")
def tls_prediction(exported, certs):
    base, _ = exported
    server = serve(
        base / helpers.MODEL,
        helpers.MODEL,
        port=0,
        poll_seconds=0,
        tls=ServerTls(certs.server_cert_pem, certs.server_key_pem),
    )
    yield server
    server.stop(grace=0)


@pytest.fixture(scope="module")
def mtls_prediction(exported, certs):
    base, _ = exported
    server = serve(
        base / helpers.MODEL,
        helpers.MODEL,
        port=0,
        poll_seconds=0,
        tls=ServerTls.from_files(certs.server_cert, certs.server_key, client_ca=certs.ca),
    )
    yield server
    server.stop(grace=0)


def predict(address: str, tls: ChannelTls | None, features: dict):
    with channel(address, tls) as ch:
        return prediction_service_pb2_grpc.PredictionServiceStub(ch).Predict(
            predict_request(features), 10.0
        )


def test_predict_over_tls_and_a_plaintext_channel_is_refused(
    tls_prediction, certs, stranger, model, data
):
    features = helpers.rows(data, 5)
    for host in ("localhost", "127.0.0.1"):  # the certificate names both (SAN DNS and IP)
        response = predict(
            f"{host}:{tls_prediction.port}", ChannelTls(root_ca=certs.ca_pem), features
        )
        np.testing.assert_allclose(
            tf.make_ndarray(response.outputs["click"]),
            helpers.keras_predict(model, features)["click"],
            atol=1e-6,
        )
    for tls in (
        None,
        ChannelTls(root_ca=stranger.ca_pem),
    ):  # no TLS; a server certificate not trusted
        with pytest.raises(grpc.RpcError) as refused:
            predict(tls_prediction.address, tls, features)
        assert refused.value.code() == UNAVAILABLE
    assert (
        predict(tls_prediction.address, ChannelTls(certs.ca_pem), features).model_spec.version.value
        == 1
    )


def test_ranking_over_tls_end_to_end_equals_plaintext(tls_prediction, ranking_server, certs, data):
    columns = helpers.rows(data, 6)
    with RankingClient(ranking_server.address) as plain:
        want = plain.rank("ple", {}, columns=columns)
    with RankingServer(
        tls_prediction.address,
        port=0,
        tls=ServerTls(certs.server_cert_pem, certs.server_key_pem),
        prediction_tls=ChannelTls(root_ca=certs.ca_pem, server_name="localhost"),
    ) as ranking:
        with RankingClient(
            f"localhost:{ranking.port}", tls=ChannelTls(root_ca=certs.ca_pem)
        ) as client:
            got = client.rank("ple", {}, columns=columns)
        with RankingClient(ranking.address) as plaintext, pytest.raises(grpc.RpcError) as refused:
            plaintext.rank("ple", {}, columns=columns)
    assert refused.value.code() == UNAVAILABLE
    assert [c.id for c in got.candidates] == [c.id for c in want.candidates]
    np.testing.assert_allclose(
        [c.score for c in got.candidates], [c.score for c in want.candidates], rtol=1e-6
    )
    assert got.model_version == 1


def test_mutual_tls_refuses_a_client_without_a_certificate(mtls_prediction, certs, stranger, data):
    server_tls = ServerTls(certs.server_cert_pem, certs.server_key_pem, client_ca=certs.ca_pem)
    client_tls = ChannelTls(certs.ca_pem, certs.client_cert_pem, certs.client_key_pem)
    columns = helpers.rows(data, 4)
    features = helpers.rows(data, 2)
    for tls in (
        ChannelTls(certs.ca_pem),
        ChannelTls(certs.ca_pem, stranger.client_cert_pem, stranger.client_key_pem),
    ):
        with pytest.raises(grpc.RpcError) as refused:
            predict(mtls_prediction.address, tls, features)
        assert refused.value.code() == UNAVAILABLE
    with RankingServer(
        mtls_prediction.address, port=0, tls=server_tls, prediction_tls=client_tls
    ) as ranking:
        with RankingClient(ranking.address, tls=ChannelTls(certs.ca_pem)) as anonymous:
            with pytest.raises(grpc.RpcError) as refused:
                anonymous.rank("ple", {}, columns=columns)
            assert refused.value.code() == UNAVAILABLE
        with RankingClient(ranking.address, tls=client_tls) as known:
            response = known.rank("ple", {}, columns=columns)
    assert len(response.candidates) == 4 and response.model_version == 1
    # The ranking service's own channel without a client certificate: the PredictionService refuses
    # it.
    with RankingServer(
        mtls_prediction.address, port=0, prediction_tls=ChannelTls(certs.ca_pem)
    ) as ranking:
        with RankingClient(ranking.address) as client, pytest.raises(grpc.RpcError) as refused:
            client.rank("ple", {}, columns=columns)
    assert refused.value.code() == UNAVAILABLE


def test_rank_command_over_mutual_tls(mtls_prediction, certs, data, capsys):
    server_tls = ServerTls(certs.server_cert_pem, certs.server_key_pem, client_ca=certs.ca_pem)
    client_tls = ChannelTls(certs.ca_pem, certs.client_cert_pem, certs.client_key_pem)
    features = helpers.rows(data, 3)
    body = {
        "context": {},
        "candidates": {
            f"c{i}": {
                k: (v[i].item() if hasattr(v[i], "item") else v[i]) for k, v in features.items()
            }
            for i in range(3)
        },
    }
    with RankingServer(
        mtls_prediction.address, port=0, tls=server_tls, prediction_tls=client_tls
    ) as ranking:
        argv = [
            "rank",
            "--ranking_service",
            ranking.address,
            "--model_name",
            "ple",
            "--request",
            json.dumps(body),
            "--tls_ca",
            str(certs.ca),
        ]
        assert (
            cli.main(
                argv + ["--tls_cert", str(certs.client_cert), "--tls_key", str(certs.client_key)]
            )
            == 0
        )
        assert "model 'ple' version 1" in capsys.readouterr().out
        assert cli.main(argv) == 2
        assert "UNAVAILABLE" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["serve", "rank-server"])
def test_server_flags_need_cert_and_key_together(command, certs, tmp_path, capsys):
    argv = {
        "serve": [
            "serve",
            "--model_base_path",
            str(tmp_path),
            "--model_name",
            "ple",
            "--port",
            "0",
        ],
        "rank-server": ["rank-server", "--prediction_service", "127.0.0.1:1", "--port", "0"],
    }[command]
    cases = (
        (["--tls_cert", str(certs.server_cert)], "--tls_cert needs --tls_key"),
        (["--tls_key", str(certs.server_key)], "--tls_key needs --tls_cert"),
        (["--tls_client_ca", str(certs.ca)], "--tls_client_ca needs --tls_cert and --tls_key"),
        (
            ["--tls_cert", str(certs.server_cert), "--tls_key", str(tmp_path / "key.pem")],
            f"--tls_key {tmp_path / 'key.pem'}: No such file or directory.",
        ),
        (
            ["--tls_cert", str(certs.server_key), "--tls_key", str(certs.server_key)],
            f"--tls_cert {certs.server_key} is not a PEM certificate",
        ),
        (
            ["--tls_cert", str(certs.server_cert), "--tls_key", str(certs.client_key)],
            f"--tls_cert {certs.server_cert} and --tls_key {certs.client_key} are not a readable "
            "certificate and "
            "its unencrypted private key: KEY_VALUES_MISMATCH.",
        ),
        (
            [
                "--tls_cert",
                str(certs.server_cert),
                "--tls_key",
                str(certs.server_key),
                "--tls_client_ca",
                str(certs.server_key),
            ],
            f"--tls_client_ca {certs.server_key} is not a PEM certificate",
        ),
    )
    for flags, message in cases:
        assert cli.main(argv + flags) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_channel_flags_name_their_prefix(certs, tmp_path, capsys):
    base = ["rank-server", "--prediction_service", "127.0.0.1:1", "--port", "0"]
    assert cli.main(base + ["--prediction_service_tls_cert", str(certs.client_cert)]) == 2
    assert (
        "--prediction_service_tls_cert needs --prediction_service_tls_key"
        in capsys.readouterr().err
    )
    assert cli.main(base + ["--prediction_service_tls_ca", str(tmp_path / "ca.pem")]) == 2
    assert (
        f"--prediction_service_tls_ca {tmp_path / 'ca.pem'}: No such file or directory."
        in capsys.readouterr().err
    )
    rank = ["rank", "--model_name", "ple", "--request", '{"candidates": {"a": {}}}']
    assert cli.main(rank + ["--tls_key", str(certs.client_key)]) == 2
    assert "--tls_key needs --tls_cert" in capsys.readouterr().err


def test_library_errors(certs, tmp_path):
    with pytest.raises(ValueError, match="needs both cert_chain and private_key"):
        ChannelTls(certs.ca_pem, cert_chain=certs.client_cert_pem)
    with pytest.raises(ValueError, match=r"--tls_cert .*/nope.pem: No such file or directory\."):
        ServerTls.from_files(tmp_path / "nope.pem", certs.server_key)
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    with pytest.raises(ValueError, match="--x_ca .*empty.pem is not a PEM certificate"):
        ChannelTls.from_files(root_ca=empty, flag_prefix="--x_")
    tls = ChannelTls.from_files(
        certs.ca, certs.client_cert, certs.client_key, server_name="localhost"
    )
    assert tls == ChannelTls(certs.ca_pem, certs.client_cert_pem, certs.client_key_pem, "localhost")


def test_a_key_that_does_not_match_fails_the_bind_naming_tls(exported, certs):
    base, _ = exported
    with pytest.raises(OSError, match="with TLS: .*--tls_cert, --tls_key"):
        serve(
            base / helpers.MODEL,
            helpers.MODEL,
            port=0,
            poll_seconds=0,
            tls=ServerTls(certs.server_cert_pem, certs.client_key_pem),
        )
