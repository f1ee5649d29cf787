"""Loading the `data` group, and the facts about the data that other groups read from it.

`model` and `loss` interpolate `${data.num_classes}`, `${data.image_shape}` and
`${data.max_pixel_value}`. A source finds them out (class folders, image size), so a config may
leave them null: they are filled in from the data once it is loaded, before the model is built and
before the run logs its config. A value set in the config is checked against the data instead.
"""

from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from blueprint.components import build
from blueprint.data.splits import ImageData
from blueprint.errors import DataError

FACTS = ("num_classes", "image_shape", "max_pixel_value")


def load_data(node: DictConfig, allowed_targets: list[str]) -> ImageData:
    """Builds the data source from `node` (without the facts), then fills in or checks them."""
    values = OmegaConf.to_container(node, resolve=True)
    arguments = OmegaConf.create({k: v for k, v in values.items() if k not in FACTS})
    data = build(arguments, allowed_targets, key="data")
    found = {
        "num_classes": data.num_classes,
        "image_shape": list(data.image_shape),
        "max_pixel_value": float(data.max_pixel_value),
    }
    with open_dict(node):
        for key, value in found.items():
            declared = node.get(key)
            if declared is None:
                node[key] = value
            elif not _agrees(key, _plain_value(declared), value):
                raise DataError(_disagreement(key, declared, value, data))
    return data


def _agrees(key: str, declared: Any, found: Any) -> bool:
    if key == "max_pixel_value":  # a declared range may be wider than the brightest pixel
        return float(declared) >= found
    return declared == found


def _disagreement(key: str, declared: Any, found: Any, data: ImageData) -> str:
    what = {
        "num_classes": f"holds {found} classes",
        "image_shape": f"images have shape {found}",
        "max_pixel_value": f"pixels reach {found:g}",
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


def check_task(task: str, data: ImageData) -> None:
    """`task=binary` takes exactly two classes: one sigmoid unit cannot tell more apart."""
    if task == "binary" and data.num_classes != 2:
        raise DataError(
            f"task=binary needs two classes but {data.record.name} holds {data.num_classes}; pick "
            "two (data.classes=[3,8] for the digits, data.class_names=[cats,dogs] for your "
            "images) or use task=classification"
        )
