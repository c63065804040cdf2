"""`tfmtl serve`'s batching flags, named as tensorflow_model_server names them.

    tfmtl serve --model_base_path models/ple --model_name ple --enable_batching \\
                --batching_parameters_file batching.txt --batching_timeout_micros 500

The file (TF Serving's BatchingParameters text proto, `max_batch_size { value: 128 }`) is read
first; a flag given on the command line overrides its field.
"""

from __future__ import annotations

import dataclasses

from tfmtl.cli.errors import CommandError

FLAGS = {  # flag -> BatchingOptions field
    "--batching_max_batch_size": "max_batch_size",
    "--batching_timeout_micros": "batch_timeout_micros",
    "--num_batch_threads": "num_batch_threads",
    "--max_enqueued_batches": "max_enqueued_batches",
}
_HELP = {
    "max_batch_size": "most rows in one merged model call (default 256)",
    "batch_timeout_micros": "how long a batch's first request waits for company (default 1000)",
    "num_batch_threads": "merged model calls run at once (default 2)",
    "max_enqueued_batches": "batches queued per signature; more: RESOURCE_EXHAUSTED (default 64)",
}


def add_batching_flags(parser) -> None:
    """`--enable_batching`, `--batching_parameters_file` and one flag per BatchingOptions field."""
    parser.add_argument(
        "--enable_batching",
        action="store_true",
        help="merge concurrent small Predicts into one model call",
    )
    parser.add_argument(
        "--batching_parameters_file",
        default=None,
        help="BatchingParameters text proto, e.g. `max_batch_size { value: 128 }`",
    )
    for flag, field in FLAGS.items():
        parser.add_argument(flag, type=int, default=None, dest=flag[2:], help=_HELP[field])


def batching_options(args):
    """The `BatchingOptions` the flags ask for, or None without `--enable_batching`."""
    from tfmtl.serving.batching import BatchingOptions, read_batching_parameters

    given = [
        flag
        for flag in ("--batching_parameters_file", *FLAGS)
        if getattr(args, flag[2:]) is not None
    ]
    if not args.enable_batching:
        if given:
            raise CommandError(f"{given[0]} needs --enable_batching.")
        return None
    for flag, field in FLAGS.items():
        value = getattr(args, flag[2:])
        least = 0 if field == "batch_timeout_micros" else 1
        if value is not None and value < least:
            raise CommandError(f"{flag} must be >= {least}. Received: {flag}={value}.")
    options = BatchingOptions()
    if args.batching_parameters_file is not None:
        try:
            options = read_batching_parameters(args.batching_parameters_file)
        except OSError as e:
            raise CommandError(
                f"--batching_parameters_file {args.batching_parameters_file}: {e.strerror}."
            ) from None
        except ValueError as e:
            raise CommandError(f"--batching_parameters_file {e}") from None
    overrides = {
        field: getattr(args, flag[2:])
        for flag, field in FLAGS.items()
        if getattr(args, flag[2:]) is not None
    }
    return dataclasses.replace(options, **overrides)
