#!/usr/bin/env bash
# Training throughput on one NVIDIA GPU, without TensorFlow: Keras 3 on JAX and on torch.
#
# For the device machine (Python 3.12, JAX and PyTorch with CUDA, no TensorFlow). Carry the
# Keras wheels and the reference workload with the working tree, e.g.:
#   pip download --python-version 3.12 --only-binary=:all: keras namex optree -d .wheels
#   cp -r ../shared/bench .bench        # both folders git-ignored, named in `carry`
#   bash benchmarks/gpu.sh .wheels .bench
# It prints one JSON line per run: MMoE and PLE on the reference workload
# (../shared/bench/workload.py) at batch 1024 and 8192, samples/s (median of 3 repeats) and
# the process's peak RSS. Then, if TensorFlow is importable (tfmtl train's input pipeline is
# tf.data), a 2-process jax_data_parallel run through tfmtl.local_workers.
set -uo pipefail
WHEELS=${1:-.wheels}
export TFMTL_BENCH_DIR=$(cd "${2:-../shared/bench}" && pwd)
cd "$(dirname "$0")/.."

python -m pip install -q --no-index --find-links "$WHEELS" keras namex optree 2>&1 | tail -1
python -m pip install -q --no-deps -e . 2>&1 | tail -1
python - <<'PY'
import jax, torch
print({"jax_devices": [str(d) for d in jax.devices()], "torch_cuda": torch.cuda.is_available()})
PY

for backend in jax torch; do
  for model in mmoe ple; do
    for batch in 1024 8192; do
      jit=on; [ "$backend" = torch ] && jit=off
      KERAS_BACKEND=$backend timeout 300 python benchmarks/train_throughput.py --worker \
        --backend "$backend" --model "$model" --batch "$batch" --jit "$jit" \
        --warm 20 --timed 200 --repeats 3 | grep '^{' || echo "{\"failed\": \"$backend $model $batch\"}"
    done
  done
done

if python -c "import tensorflow" 2>/dev/null; then
  KERAS_BACKEND=jax timeout 300 python -m tfmtl.local_workers 2 train --dataset synthetic \
    --rows 200000 --model mmoe --epochs 2 --batch-size 8192 --distribution jax_data_parallel \
    --output "$(mktemp -d)/two" | grep -E "Epoch|error" || echo '{"failed": "2-process jax"}'
else
  echo '{"skipped": "2-process jax_data_parallel: tfmtl train reads its data through tf.data"}'
fi
