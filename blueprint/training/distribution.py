"""Data-parallel training (`trainer.distribution`): the tf.distribute strategy a run's model is
built under, and which process of a multi-worker cluster is the chief that tracks the run.

`trainer.batch_size` is per replica: a step trains on batch_size x replicas images, split evenly
across the replicas, so adding devices keeps each device's batch (and memory) as it was.
"""

import json
import os
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

from blueprint.errors import ConfigError

if TYPE_CHECKING:  # TensorFlow loads once a run trains: `check_distribution` runs before that
    import tensorflow as tf

TF_CONFIG_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)


def check_distribution(name: str, in_sweep: bool, resuming: bool) -> None:
    """Refuses, before anything is written, a multi-worker run that cannot start or go on."""
    if name != "multi_worker":
        return
    if in_sweep:
        raise ConfigError(
            "trainer.distribution=multi_worker trains one model across a cluster's workers, not "
            "sweep trials; sweep with trainer.distribution=mirrored or none"
        )
    if resuming:
        raise ConfigError(
            "resume= continues a single-process run; a trainer.distribution=multi_worker run "
            "keeps no backup (each worker would restore its own): start it again"
        )
    try:
        tf_config = json.loads(os.environ["TF_CONFIG"])
        tf_config["cluster"]["worker"], tf_config["task"]["type"], tf_config["task"]["index"]
    except KeyError:
        problem = "is not set" if "TF_CONFIG" not in os.environ else "lacks cluster.worker or task"
        raise ConfigError(
            f"trainer.distribution=multi_worker reads its cluster from TF_CONFIG, which {problem}; "
            f"set it on each worker, e.g. {TF_CONFIG_EXAMPLE} "
            "(docs: scaling-out.md, Data-parallel training)"
        ) from None
    except (ValueError, TypeError):
        raise ConfigError(
            f"TF_CONFIG is not valid JSON; set it on each worker, e.g. {TF_CONFIG_EXAMPLE}"
        ) from None


class Distribution:
    """The strategy for `trainer.distribution` (none: Keras' default, one device)."""

    def __init__(self, name: str) -> None:
        import tensorflow as tf

        self.name = name
        self.strategy: tf.distribute.Strategy | None = None
        if name != "none":
            tf.get_logger().setLevel("WARNING")  # tf.distribute logs each reduction at INFO
        if name == "mirrored":
            self.strategy = tf.distribute.MirroredStrategy(devices=local_devices())
        elif name == "multi_worker":  # must come before any other TensorFlow op
            self.strategy = reducing_each_value(tf.distribute.MultiWorkerMirroredStrategy())

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync if self.strategy else 1

    def global_batch(self, batch_size: int) -> int:
        """The batch a step's dataset yields: `batch_size` for every replica."""
        return batch_size * self.replicas

    def scope(self) -> AbstractContextManager[Any]:
        """Where the model and its optimizer are built, so their variables are mirrored."""
        return self.strategy.scope() if self.strategy else nullcontext()

    @property
    def is_chief(self) -> bool:
        """Whether this process tracks the run: always, but for the other workers of a cluster
        (the `chief` task, or worker 0 where the cluster names no chief; TensorFlow's rule)."""
        if self.name != "multi_worker":
            return True
        resolver = self.strategy.cluster_resolver
        if resolver.task_type == "chief" or resolver.task_type is None:
            return True
        has_chief = "chief" in resolver.cluster_spec().as_dict()
        return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def local_devices() -> list[str]:
    """This machine's GPUs, else its CPU devices (one, unless split into logical devices)."""
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return [device.name for device in devices]


def reducing_each_value(strategy: "tf.distribute.Strategy") -> "tf.distribute.Strategy":
    """`strategy`, its `reduce` taking what Keras 3 hands a multi-worker strategy
    (keras-team/keras#20585, open): a nested batch, and scalar metrics with `axis=0`.
    MultiWorkerMirroredStrategy reduces one tensor at a time and a scalar only without an axis,
    so each value is reduced on its own, scalars without an axis."""
    import tensorflow as tf

    reduce = strategy.reduce

    def each(op: str, value: Any, axis: int | None = None) -> Any:
        def one(v: Any) -> Any:
            rank = strategy.experimental_local_results(v)[0].shape.rank
            return reduce(op, v, axis=axis if rank else None)

        return tf.nest.map_structure(one, value)

    strategy.reduce = each
    return strategy
