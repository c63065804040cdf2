"""tfmtl: multi-task recommender rankers in Keras 3, exported for TF Serving."""

from setuptools import setup

setup(
    name="tfmtl",
    version="0.1.0",
    description="Keras 3 model zoo of multi-task recommender rankers: train, export, serve, rank.",
    python_requires=">=3.10",
    packages=[
        "tfmtl",
        "tfmtl.balancing",
        "tfmtl.layers",
        "tfmtl.models",
        "tfmtl.data",
        "tfmtl.cli",
        "tfmtl.reproduce",
        "tfmtl.export",
        "tfmtl.serving",
        "tfmtl.serving.protos",
    ],
    package_dir={"tfmtl.export": "export", "tfmtl.serving": "serving"},
    package_data={"tfmtl.serving": ["protos/*.proto"], "tfmtl.reproduce": ["configs/*.yaml"]},
    install_requires=[
        # TF 2.21 ships with Keras 3; tensorflow-serving-api must match TF's minor version.
        "tensorflow==2.21.*",
        "tensorflow-serving-api==2.21.*",
        "keras>=3.12,<4",
        "grpcio>=1.60",
        "numpy>=1.26",
        # Columnar reading of CSV/.dat files (tfmtl/data/text_table.py) and hash-based vocabularies.
        "pyarrow>=15",
        "tqdm>=4.60",
        # The run config (tfmtl/config.py).
        "pyyaml>=6",
        # Serving: grpc.health.v1 and reflection on both servers, Prometheus metrics over HTTP.
        "grpcio-health-checking>=1.60",
        "grpcio-reflection>=1.60",
        "prometheus-client>=0.20",
        # `tfmtl fusion-search` (tfmtl/fusion_search.py): TPE search of the fusion weights.
        "optuna>=3.6",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "scikit-learn>=1.4",
            "matplotlib>=3.8",
            "grpcio-tools>=1.60",
            "tensorboard>=2.20",
            # Certificates made in the TLS tests.
            "cryptography>=42",
            # The JAX backend's tests: backend neutrality and the gradient loss-balancing step.
            "jax[cpu]>=0.4.30",
            # tests/test_style.py runs `ruff check` and `ruff format --check`; pinned because
            # ruff's rules and formatter output change between releases.
            "ruff==0.17.6",
        ],
        "plot": ["matplotlib>=3.8"],
        "tensorboard": ["tensorboard>=2.20"],
        # Train on the other Keras 3 backends (CPU builds); tests/test_backends.py skips any
        # backend not installed, so `.[test]` stays light. torch: install its CPU build first
        # (docs/backends.md).
        "backends": ["jax[cpu]>=0.4.30", "torch>=2.3"],
    },
    entry_points={"console_scripts": ["tfmtl=tfmtl.cli:main"]},
)
