"""`python -m blueprint.info [overrides...]` (`make info`): what a user checks first on a new box.

Versions (and which TensorFlow wheel: the CPU one or the GPU one), the devices TensorFlow sees,
whether mixed precision pays on them, and the stores runs and sweeps would use with these
overrides. Prints; writes nothing, opens no store.
"""

import os
import platform
import sys
from pathlib import Path

from blueprint.app.job import composed, sweep_storage
from blueprint.credentials import masked
from blueprint.errors import BlueprintError
from blueprint.plumbing.packages import TENSORFLOW_WHEELS, installed_version

PACKAGES = ("blueprint", "keras", "mlflow", "optuna", "hydra-core", "numpy")
# Compute capabilities from which NVIDIA GPUs run float16 (tensor cores) and bfloat16 fast.
FLOAT16_FROM, BFLOAT16_FROM = (7, 0), (8, 0)
CPU_BFLOAT16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of CPUs fast at bfloat16


def version_lines() -> list[str]:
    wheels = [f"{w}=={installed_version(w)}" for w in TENSORFLOW_WHEELS if installed_version(w)]
    lines = [f"python {platform.python_version()} on {platform.platform()}"]
    lines.append(f"tensorflow: {' and '.join(wheels) or 'not installed'}")
    if len(wheels) > 1:
        lines.append(
            "  both TensorFlow wheels are installed, one over the other: reinstall with "
            "`make install` (CPU) or `make install GPU=1`"
        )
    lines += [f"{package}: {installed_version(package) or 'not installed'}" for package in PACKAGES]
    return lines


def cpu_flags() -> set[str]:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return set()
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def device_lines() -> list[str]:
    """The devices TensorFlow sees and what mixed precision does on each."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    build = tf.sysconfig.get_build_info()
    cuda = (
        f"built with CUDA {build.get('cuda_version')}, cuDNN {build.get('cudnn_version')}"
        if build.get("is_cuda_build")
        else "a CPU-only build"
    )
    lines = [f"tensorflow {tf.__version__}: {cuda}"]
    fast_bf16 = sorted(cpu_flags().intersection(CPU_BFLOAT16_FLAGS))
    for cpu in tf.config.list_physical_devices("CPU"):
        pays = f"fast ({', '.join(fast_bf16)})" if fast_bf16 else "runs, without a speed-up"
        lines.append(
            f"{cpu.name}: {os.cpu_count()} cores; mixed_bfloat16 {pays}; mixed_float16 slow"
        )
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        capability = tuple(details.get("compute_capability") or (0, 0))
        float16 = "yes" if capability >= FLOAT16_FROM else "slow (compute capability < 7.0)"
        bfloat16 = "yes" if capability >= BFLOAT16_FROM else "slow (compute capability < 8.0)"
        lines.append(
            f"{gpu.name}: {details.get('device_name', 'GPU')}, compute capability "
            f"{'.'.join(map(str, capability))}; mixed_float16 {float16}; mixed_bfloat16 {bfloat16}"
        )
    if not gpus:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        hint = f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
        lines.append(f"no GPU{hint}: docs: gpu.md sets one up")
    return lines


def store_lines(overrides: list[str]) -> list[str]:
    cfg = composed(overrides)
    return [
        f"runs (tracking.uri): {masked(str(cfg.tracking.uri))}",
        f"sweeps (hydra.sweeper.storage): {masked(sweep_storage(overrides))}",
    ]


def main(argv: list[str]) -> int:
    try:
        stores = store_lines(argv)
    except BlueprintError as err:
        print(err, file=sys.stderr)
        return 2
    for section, lines in (
        ("versions", version_lines()),
        ("devices", device_lines()),
        ("stores", stores),
    ):
        print(f"{section}:")
        print("\n".join(f"  {line}" for line in lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
