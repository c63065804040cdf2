"""Rank latency under a flood: attacker threads send requests the servers must refuse at once.

The PredictionService gets 455-byte Predicts whose shapes claim 65,536 rows, the ranking service
Rank requests one candidate over its `--max_candidates`; `under_flood` measures one client's
Rank p99 meanwhile, against its idle p99.
"""

from __future__ import annotations

import threading

from latency_timing import percentiles, timed

ATTACKERS = 8


def claimed_rows(predict, rows: int = 65_536):
    """`predict` cut to one value per input whose shapes claim `rows` rows (a cheap overload)."""
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

    attack = type(predict)()
    attack.model_spec.CopyFrom(predict.model_spec)
    for name, proto in predict.inputs.items():
        small = tensor_pb2.TensorProto(
            dtype=proto.dtype,
            tensor_shape=tensor_shape_pb2.TensorShapeProto(
                dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=rows)]
            ),
        )
        field = {
            types_pb2.DT_STRING: "string_val",
            types_pb2.DT_FLOAT: "float_val",
            types_pb2.DT_DOUBLE: "double_val",
            types_pb2.DT_INT32: "int_val",
        }.get(proto.dtype, "int64_val")
        getattr(small, field).append(b"a" if field == "string_val" else 1)
        attack.inputs[name].CopyFrom(small)
    return attack


def under_flood(client, paddress, raddress, requests, predict, args) -> dict:
    """Rank p99 from one client while an attacker process floods both servers.

    The attacker's requests are all refused at once. It runs in its own process
    (`ATTACKERS` threads), as it would on its own host, so its Python work does not hold the
    measuring client's interpreter lock; it shares the cores.
    """
    import multiprocessing

    attack = claimed_rows(predict)
    oversized = type(requests["rows"])()
    oversized.CopyFrom(requests["rows"])
    while len(oversized.candidates) <= args.max_candidates:
        oversized.candidates.extend(requests["rows"].candidates)
    del oversized.candidates[args.max_candidates + 1 :]

    idle = timed(lambda: client.stub.Rank(requests["rows"], timeout=30), args.requests)
    context = multiprocessing.get_context("spawn")
    stop, answers = context.Event(), context.Queue()
    attacker = context.Process(
        target=attack_until,
        args=(
            paddress,
            raddress,
            attack.SerializeToString(),
            oversized.SerializeToString(),
            stop,
            answers,
        ),
    )
    attacker.start()
    first = answers.get(timeout=120)  # the attacker's first answers: it is up and flooding
    flooded = timed(lambda: client.stub.Rank(requests["rows"], timeout=30), args.requests, warmup=0)
    stop.set()
    codes = answers.get(timeout=60)
    attacker.join(timeout=60)
    for code, n in first.items():
        codes[code] = codes.get(code, 0) + n
    idle_p, flood_p = percentiles(idle), percentiles(flooded)
    return {
        "attackers": ATTACKERS,
        "attack_predict_bytes": attack.ByteSize(),
        "attack_answers": codes,
        "idle": idle_p,
        "flooded": flood_p,
        "p99_ratio": round(flood_p["p99_ms"] / idle_p["p99_ms"], 2),
    }


def attack_until(paddress, raddress, predict_bytes, rank_bytes, stop, answers) -> None:
    """`ATTACKERS` threads alternating claimed-rows Predicts and oversized Ranks until `stop`."""
    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    from tfmtl.serving.protos import ranking_pb2, ranking_pb2_grpc

    predict = predict_pb2.PredictRequest.FromString(predict_bytes)
    rank = ranking_pb2.RankRequest.FromString(rank_bytes)
    options = [("grpc.max_send_message_length", 256 << 20)]
    calls = [
        (
            prediction_service_pb2_grpc.PredictionServiceStub(
                grpc.insecure_channel(paddress)
            ).Predict,
            predict,
        ),
        (
            ranking_pb2_grpc.RankingServiceStub(
                grpc.insecure_channel(raddress, options=options)
            ).Rank,
            rank,
        ),
    ]
    codes, lock, started = {}, threading.Lock(), threading.Event()

    def attacker(call, request):
        while not stop.is_set():
            try:
                call(request, timeout=30)
                code = "OK"
            except grpc.RpcError as e:
                code = e.code().name
            with lock:
                codes[code] = codes.get(code, 0) + 1
                if sum(codes.values()) >= 2 * ATTACKERS and not started.is_set():
                    started.set()
                    answers.put(dict(codes))
                    codes.clear()

    threads = [
        threading.Thread(target=attacker, args=calls[i % 2], daemon=True) for i in range(ATTACKERS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    answers.put(codes)
