"""Which versions of blueprint's stack are installed, read from the packages' metadata."""

from importlib.metadata import PackageNotFoundError, version

# TensorFlow's wheels: the CPU one blueprint installs by default, the GPU one `make install GPU=1`
TENSORFLOW_WHEELS = ("tensorflow-cpu", "tensorflow")


def installed_version(package: str) -> str | None:
    """`package`'s installed version, or None where it is not installed."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None
