#!/bin/sh
# Regenerate ranking_pb2.py / ranking_pb2_grpc.py (committed) from ranking.proto.
# Needs grpcio-tools whose bundled protoc matches the protobuf runtime tensorflow installs
# (grpcio-tools 1.85.1 -> gencode 7.35.1, runtime protobuf 7.36 with tensorflow 2.21):
#   pip install "grpcio-tools==1.85.1"        (or: --target DIR and PYTHONPATH=DIR)
# The proto is compiled as tfmtl/serving/protos/ranking.proto so the generated gRPC module
# imports `tfmtl.serving.protos.ranking_pb2`, its installed name.
set -e
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/tfmtl/serving/protos"
cp "$here/ranking.proto" "$tmp/tfmtl/serving/protos/"
${PYTHON:-python} -m grpc_tools.protoc -I"$tmp" --python_out="$tmp" --grpc_python_out="$tmp" \
    "$tmp/tfmtl/serving/protos/ranking.proto"
cp "$tmp/tfmtl/serving/protos/ranking_pb2.py" "$tmp/tfmtl/serving/protos/ranking_pb2_grpc.py" "$here/"
