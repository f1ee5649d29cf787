"""Loading the `data` group, and the facts about the data that other groups read from it.

`model` and `loss` interpolate `${data.num_classes}`, `${data.image_shape}` and
`${data.max_pixel_value}`. A source finds them out (class folders, image size), so a config may
leave them null: they are filled in from the data once it is loaded, before the model is built and
before the run logs its config. A value set in the config is checked against the data instead.
`data.max_pixel_value` is 255 whatever the source: every source's pixels are 0..255
(`blueprint.data.splits.MAX_PIXEL_VALUE`), so every model reads ordinary image files as it read
its training images.
"""

from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from blueprint.components import build
from blueprint.data.splits import MAX_PIXEL_VALUE, ImageData
from blueprint.errors import DataError

FACTS = ("num_classes", "image_shape", "max_pixel_value")


def load_data(node: DictConfig, allowed_targets: list[str]) -> ImageData:
    """Builds the data source from `node` (without the facts), then fills in or checks them."""
    values = OmegaConf.to_container(node, resolve=True)
    arguments = OmegaConf.create({k: v for k, v in values.items() if k not in FACTS})
    data = build(arguments, allowed_targets, key="data")
    if data.max_pixel_value != MAX_PIXEL_VALUE:
        raise DataError(
            f"{data.record.name}'s pixels are 0..{data.max_pixel_value:g}, but every model takes "
            f"0..{MAX_PIXEL_VALUE:g} images, as image files hold them; scale them as they load "
            f"(image_data_from_arrays(value_range=(0, {data.max_pixel_value:g})) does)"
        )
    found = {
        "num_classes": data.num_classes or None,  # values (regression) have no classes
        "image_shape": list(data.image_shape),
        "max_pixel_value": float(data.max_pixel_value),
    }
    with open_dict(node):
        for key, value in found.items():
            declared = node.get(key)
            if declared is None:
                node[key] = value
            elif _plain_value(declared) != value:
                raise DataError(_disagreement(key, declared, value, data))
    return data


def _disagreement(key: str, declared: Any, found: Any, data: ImageData) -> str:
    what = {
        "num_classes": f"holds {found} classes",
        "image_shape": f"images have shape {found}",
        "max_pixel_value": f"pixels are 0..{found:g} (every source's)",
    }[key]
    shown = found if key != "max_pixel_value" else f"{found:g}"
    return (
        f"{data.record.name} {what} but data.{key}={_plain(declared)}; set data.{key}={shown} "
        "or null to take it from the data"
    )


def _plain_value(value: Any) -> Any:
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def _plain(value: Any) -> str:
    return str(_plain_value(value)).replace(" ", "")


# What each task learns from: class ids, numbers or masks (`ImageData.targets`).
TASK_TARGETS = {
    "classification": "classes",
    "binary": "classes",
    "regression": "values",
    "segmentation": "masks",
}
SOURCES = {  # where each kind of target comes from, for the error that finds the wrong kind
    "classes": "class sub-folders (data=folder), a CSV with path,label (data=csv) or data=digits",
    "values": "a CSV with columns path,target (data=csv) or data=shapes",
    "masks": "image and mask folders (data=masks) or data=shapes",
}


def check_task(task: str, data: ImageData, class_weight: str | None = None) -> None:
    """The data holds what the task learns from; `task=binary` takes exactly two classes (one
    sigmoid unit cannot tell more apart); only classes can be weighed (`trainer.class_weight`)."""
    wanted = TASK_TARGETS[task]
    if data.targets != wanted:
        raise DataError(
            f"task={task} learns from {wanted} but {data.record.name} holds {data.targets}; "
            f"give it {SOURCES[wanted]}, or pick the task that fits the data"
        )
    if task == "binary" and data.num_classes != 2:
        raise DataError(
            f"task=binary needs two classes but {data.record.name} holds {data.num_classes}; pick "
            "two (data.classes=[3,8] for the digits, data.class_names=[cats,dogs] for your "
            "images) or use task=classification"
        )
    if class_weight is not None and data.targets != "classes":
        raise DataError(
            f"trainer.class_weight={class_weight} weighs images by class, but task={task} has "
            f"{data.targets}, not classes; set trainer.class_weight=null"
        )
