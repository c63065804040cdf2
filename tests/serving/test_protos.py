"""The committed stubs import under TensorFlow's protobuf runtime and match ranking.proto."""

import re
from pathlib import Path

import grpc

from tfmtl.serving.protos import ranking_pb2, ranking_pb2_grpc

PROTO = Path(ranking_pb2.__file__).with_name("ranking.proto").read_text()
FIELD = re.compile(
    r"^\s+(?:repeated\s+)?(?:map<[^>]+>|[\w.]+)\s+(\w+)\s*=\s*(\d+)\s*(?:\[[^\]]*\])?;", re.M
)


def test_stubs_match_the_proto():
    declared = sorted(re.findall(r"^message (\w+) \{", PROTO, flags=re.M))
    assert declared == sorted(ranking_pb2.DESCRIPTOR.message_types_by_name)
    generated = sorted(
        (f.name, f.number)
        for m in ranking_pb2.DESCRIPTOR.message_types_by_name.values()
        for f in m.fields
    )
    assert generated == sorted((name, int(number)) for name, number in FIELD.findall(PROTO))
    assert list(ranking_pb2.DESCRIPTOR.services_by_name["RankingService"].methods_by_name) == [
        "Rank"
    ]
    assert ranking_pb2.DESCRIPTOR.package == "tfmtl.serving"


def test_grpc_stub_builds():
    with grpc.insecure_channel("127.0.0.1:1") as channel:
        assert callable(ranking_pb2_grpc.RankingServiceStub(channel).Rank)
