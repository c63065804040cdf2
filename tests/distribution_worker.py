"""Trains one tiny MMoE twice through `tfmtl train`: on one device, then `mirrored` over two.

Run as a script (the logical CPU devices must exist before TensorFlow starts); prints one JSON
line: each run's per-epoch loss.
"""

import json
import sys


def main(workdir):
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    from tfmtl import cli  # after the devices are configured

    losses = {}
    for distribution in ("none", "mirrored"):
        out = f"{workdir}/{distribution}"
        args = ["train", "--dataset", "synthetic", "--rows", "800", "--model", "mmoe"]
        args += ["--hparams", '{"num_experts": 2, "expert_units": [8]}', "--epochs", "2"]
        args += ["--batch-size", "128", "--distribution", distribution, "--output", out]
        assert cli.main(args) == 0
        with open(f"{out}/history.json") as f:
            losses[distribution] = json.load(f)["loss"]
    return losses


if __name__ == "__main__":  # pytest's doctest collection imports this file: do nothing then
    print(json.dumps(main(sys.argv[1])))
