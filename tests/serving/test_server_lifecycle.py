"""Binding: a taken port is an error that names the port asked for, from the library and the CLI."""

from __future__ import annotations

import pytest

from tfmtl import cli


def test_a_taken_port_names_the_port_asked_for():
    # Regression: gRPC's default SO_REUSEPORT let a second server bind a taken port silently,
    # and a failed bind was reported as port :0 instead of the port asked for.
    from tfmtl.serving import RankingServer

    with RankingServer("127.0.0.1:1", port=0) as first:
        with pytest.raises(OSError, match=rf"RankingService to 127\.0\.0\.1:{first.port}: is the"):
            RankingServer("127.0.0.1:1", port=first.port).start()


def test_rank_server_on_a_taken_port_exits_with_the_port(capsys):
    from tfmtl.serving import RankingServer

    with RankingServer("127.0.0.1:1", port=0) as first:
        argv = ["rank-server", "--prediction_service", "127.0.0.1:1", "--port", str(first.port)]
        assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"Could not bind the RankingService to 127.0.0.1:{first.port}: is the port" in err
