"""Data sources (folder, csv, npz, mnist), the saved inventory and split, and the pipeline."""

import csv
import dataclasses
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from PIL import Image

from blueprint.data.facts import load_data
from blueprint.data.pipeline import images_at, to_dataset
from blueprint.data.splits import FileSplit, ImageData
from blueprint.errors import ConfigError, DataError
from blueprint.models.build import build_model
from blueprint.training.fit import class_weights
from tests.helpers import (
    ROOT,
    assert_one_line_error,
    compose_into,
    write_image_csv,
    write_image_folder,
    write_mnist_like_npz,
    write_photo_folder,
)

CLASSES = {"cats": 12, "dogs": 12, "owls": 12}


def load(tmp: Path, *overrides: str) -> ImageData:
    cfg = compose_into(tmp, *overrides)
    return load_data(cfg.data, list(cfg.allowed_targets))


def load_folder(tmp: Path, folder: Path, *overrides: str) -> ImageData:
    return load(tmp, "data=folder", f"data.path={folder}", "data.image_size=[16,16]", *overrides)


def split_paths(data: ImageData) -> dict[str, list[str]]:
    return {name: sorted(split.paths) for name, split in data.splits().items()}


def inventory_of(tmp: Path) -> tuple[list[dict], dict]:
    [directory] = [p for p in (tmp / "inventories").iterdir() if p.is_dir()]
    with open(directory / "inventory.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    return rows, json.loads((directory / "inventory.json").read_text())


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_image_folder(tmp_path / "photos", CLASSES, size=(20, 24))


# --- folder: inventory and split ---------------------------------------------------------------


def test_folder_is_split_stratified_and_saved_outside_the_data(tmp_path, folder) -> None:
    data = load_folder(tmp_path, folder)
    assert data.class_names == ["cats", "dogs", "owls"]
    assert data.image_shape == (16, 16, 3) and data.max_pixel_value == 255
    assert isinstance(data.train, FileSplit)  # paths, not pixels, until a batch is read
    counts = data.class_counts()
    assert counts["train"] == [8, 8, 8] and counts["val"] == [2, 2, 2] == counts["test"]
    rows, meta = inventory_of(tmp_path)
    assert len(rows) == 36 and set(rows[0]) == {
        "path",
        "label",
        "split",
        "sha256",
        "bytes",
        "mtime_ns",
    }
    assert not any(p.name.startswith("inventory") for p in folder.rglob("*"))
    assert meta["settings"]["val_fraction"] == 0.15 and meta["digest"] == data.record.digest
    assert {Path(f).name for f in data.record.files} == {"inventory.csv", "inventory.json"}


def test_later_loads_reuse_the_split_and_report_added_removed_changed(tmp_path, folder, caplog):
    first = load_folder(tmp_path, folder)
    assert split_paths(load_folder(tmp_path, folder, "trainer.seed=7")) == split_paths(first)

    write_image_folder(tmp_path / "more", {"cats": 2}, size=(20, 24), seed=9)
    for image in (tmp_path / "more" / "cats").iterdir():
        shutil.copy(image, folder / "cats" / f"new_{image.name}")
    removed = first.train.paths[0]
    Path(removed).unlink()
    changed = Path(first.val.paths[0])
    changed.write_bytes(Path(first.val.paths[1]).read_bytes())
    with caplog.at_level(logging.WARNING):
        later = load_folder(tmp_path, folder)
    [report] = [
        r.getMessage() for r in caplog.records if "since its split was saved" in r.getMessage()
    ]
    assert "2 files added, 1 removed and 1 changed" in report and "data.rebuild=true" in report
    after = split_paths(later)
    assert after["train"] == [p for p in split_paths(first)["train"] if p != removed]
    assert after["val"] == split_paths(first)["val"] and after["test"] == split_paths(first)["test"]
    assert not any("new_" in p for paths in after.values() for p in paths)


def test_changing_split_settings_needs_rebuild(tmp_path, folder) -> None:
    first = load_folder(tmp_path, folder)
    with pytest.raises(DataError, match=r"data.val_fraction=0.2 differs .* data.rebuild=true"):
        load_folder(tmp_path, folder, "data.val_fraction=0.2")
    rebuilt = load_folder(tmp_path, folder, "data.val_fraction=0.25", "data.rebuild=true")
    assert len(rebuilt.val) == 9 and split_paths(rebuilt) != split_paths(first)
    assert inventory_of(tmp_path)[1]["settings"]["val_fraction"] == 0.25


def test_class_names_pick_and_order_classes(tmp_path, folder) -> None:
    data = load_folder(tmp_path, folder, "data.class_names=[owls,cats]")
    assert data.class_names == ["owls", "cats"] and data.num_classes == 2
    owls = [
        label
        for path, label in zip(data.train.paths, data.train.labels, strict=True)
        if "owls" in path
    ]
    assert set(owls) == {0}
    with pytest.raises(DataError, match=r"data.class_names names \['bats'\]"):
        load_folder(tmp_path, folder, "data.class_names=[cats,bats]")


def test_unreadable_files_are_skipped_and_reported_once(tmp_path, folder, caplog) -> None:
    (folder / "cats" / "notes.txt").write_text("not an image")
    (folder / "dogs" / "broken.png").write_bytes(b"garbage")
    truncated = (folder / "owls" / "owls_0000.png").read_bytes()
    (folder / "owls" / "truncated.png").write_bytes(truncated[: len(truncated) // 2])
    photo = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    Image.fromarray(photo).save(folder / "owls" / "photo.jpg")  # JPEGs are checked at 1/8 scale
    jpeg = (folder / "owls" / "photo.jpg").read_bytes()
    (folder / "owls" / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    with caplog.at_level(logging.WARNING):
        data = load_folder(tmp_path, folder)
    [report] = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert "skipped 4 of 41 files" in report and "inventory.json" in report
    used = [p for split in data.splits().values() for p in split.paths]
    assert len(used) == 37 and not any("broken" in p or "truncated" in p for p in used)
    assert any(p.endswith("photo.jpg") for p in used)
    assert len(inventory_of(tmp_path)[1]["skipped"]) == 4
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        load_folder(tmp_path, folder)  # skipped files are not "added" on the next run
    assert not caplog.records


def test_photos_of_any_size_and_mode_become_one_shape(tmp_path) -> None:
    from sklearn.datasets import load_sample_images

    root = tmp_path / "photos"
    for name, photo in zip(("china", "flower"), load_sample_images().images, strict=True):
        folder = root / name  # two 427x640 RGB JPEG photos, saved six ways each
        folder.mkdir(parents=True)
        image = Image.fromarray(photo)
        image.resize((4000, 3000)).convert("RGBA").save(folder / "big_rgba.png")
        image.convert("L").save(folder / "grey.jpg")
        Image.fromarray(photo[:100, :150]).save(folder / "crop.bmp")
        image.save(folder / "photo.jpg")
        image.convert("P").save(folder / "palette.gif")
        Image.fromarray(photo[::3, ::2]).convert("LA").save(folder / "small_la.png")
    for color_mode, channels in (("rgb", 3), ("grayscale", 1)):
        data = load(
            tmp_path,
            "data=folder",
            f"data.path={root}",
            "data.image_size=[32,48]",
            f"data.color_mode={color_mode}",
            "data.val_fraction=0.34",
            "data.test_fraction=0.34",
            "data.rebuild=true",
        )
        every = FileSplit(
            tuple(p for s in data.splits().values() for p in s.paths),
            np.zeros(12, dtype="int64"),
            data.train.image_size,
            data.train.channels,
        )
        [(images, _)] = list(to_dataset(every, batch_size=12).as_numpy_iterator())
        assert images.shape == (12, 32, 48, channels) and images.dtype == np.float32
        assert images.min() >= 0 and images.max() <= 255 and images.max() > 100


# --- the pipeline ---------------------------------------------------------------------------------


def test_caches_give_the_same_batches_as_reading_files(tmp_path, folder) -> None:
    batches = {}
    for cache in ("none", "memory", str(tmp_path / "cache" / "decoded")):
        data = load_folder(tmp_path, folder, f"data.cache={cache}")
        epochs = [list(to_dataset(data.val, 4).as_numpy_iterator()) for _ in range(2)]
        batches[cache] = epochs
    for epochs in batches.values():
        for epoch in epochs:
            images = np.concatenate([x for x, _ in epoch])
            reference = np.concatenate([x for x, _ in batches["none"][0]])
            np.testing.assert_allclose(images, reference)
    assert any(p.name.startswith("decoded-val-") for p in (tmp_path / "cache").iterdir())


def test_training_order_is_seeded_and_reshuffled_every_epoch(tmp_path, folder) -> None:
    data = load_folder(tmp_path, folder)

    def orders(seed: int) -> list[list[int]]:
        dataset = to_dataset(data.train, 64, shuffle_seed=seed)
        return [
            [int(v) for v in np.concatenate([y for _, y in dataset.as_numpy_iterator()])]
            for _ in range(2)
        ]

    first, again = orders(1), orders(1)
    assert first == again and first[0] != first[1]
    assert sorted(first[0]) == sorted(data.train.labels.tolist())


def test_images_at_reads_only_the_chosen_files(tmp_path, folder) -> None:
    data = load_folder(tmp_path, folder)
    everything = np.concatenate([x for x, _ in to_dataset(data.val, 64).as_numpy_iterator()])
    np.testing.assert_allclose(images_at(data.val, np.array([4, 1])), everything[[4, 1]])


def test_balanced_class_weights_follow_inverse_frequency(tmp_path) -> None:
    folder = write_image_folder(tmp_path / "skewed", {"common": 40, "rare": 10})
    data = load_folder(tmp_path, folder)
    weights, counts = class_weights(data), data.class_counts()["train"]
    assert weights[1] / weights[0] == pytest.approx(counts[0] / counts[1])
    assert sum(w * n for w, n in zip(weights.values(), counts, strict=True)) == pytest.approx(
        len(data.train)
    )  # the mean weight per training image stays 1


# --- csv ------------------------------------------------------------------------------------------


def test_csv_lists_images_and_may_bring_its_own_split(tmp_path, folder) -> None:
    listed = write_image_csv(folder, tmp_path / "lists" / "all.csv")
    data = load(tmp_path, "data=csv", f"data.path={listed}", "data.image_size=[16,16]")
    assert data.class_counts()["train"] == [8, 8, 8]
    own = write_image_csv(folder, tmp_path / "lists" / "own.csv", with_split=True)
    data = load(tmp_path, "data=csv", f"data.path={own}", "data.image_size=[16,16]")
    with open(own, newline="") as file:
        wanted = {row["path"].split("/")[-1]: row["split"] for row in csv.DictReader(file)}
    for name, split in data.splits().items():
        assert {wanted[Path(p).name] for p in split.paths} == {name}


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        (lambda text: text.replace("path,label", "path,label,weight"), ["weight", "path,label"]),
        (lambda text: text + "cats/missing.png,cats\n", ["1 of 37 listed files do not exist"]),
        (lambda text: text.replace(",owls", ",owl"), ["label 'owl'", "data.class_names"]),
        (lambda text: text + "cats/cats_0000.png,cats\n", ["a second time"]),
    ],
    ids=["unknown column", "missing file", "unknown label", "duplicate"],
)
def test_bad_csv_is_one_line_naming_the_file(tmp_path, folder, edit, fragments) -> None:
    listed = write_image_csv(folder, folder / "labels.csv")
    listed.write_text(edit(listed.read_text()))
    with pytest.raises(DataError) as caught:
        load(
            tmp_path,
            "data=csv",
            f"data.path={listed}",
            "data.class_names=[cats,dogs,owls]",
        )
    message = str(caught.value)
    assert "\n" not in message and str(listed) in message
    for fragment in fragments:
        assert fragment in message, message
    assert not (tmp_path / "inventories").exists()  # nothing half-written


# --- npz and mnist ----------------------------------------------------------------------------


def test_npz_with_and_without_test_arrays(tmp_path) -> None:
    path = write_mnist_like_npz(tmp_path / "mnist.npz", train=200, test=50)
    data = load(tmp_path, "data=npz", f"data.path={path}")
    assert data.image_shape == (28, 28, 1) and data.max_pixel_value == 255
    assert len(data.test) == 50 and len(data.train) + len(data.val) == 200
    arrays = dict(np.load(path))
    np.savez(tmp_path / "renamed.npz", images=arrays["x_train"], labels=arrays["y_train"])
    data = load(
        tmp_path,
        "data=npz",
        f"data.path={tmp_path / 'renamed.npz'}",
        "data.arrays.x_train=images",
        "data.arrays.y_train=labels",
        "data.arrays.x_test=null",
        "data.arrays.y_test=null",
    )
    assert len(data.train) + len(data.val) + len(data.test) == 200 and len(data.test) == 30


def test_every_source_gives_0_to_255_pixels_and_other_ranges_are_scaled(tmp_path, caplog) -> None:
    digits = load(tmp_path)  # 0..16 counts, scaled to whole grey levels as they load
    assert np.array_equal(np.unique(digits.train.images), np.round(np.arange(17) * 255 / 16))
    raw = np.load(write_mnist_like_npz(tmp_path / "mnist.npz", train=100, test=20))
    mnist = load(tmp_path, "data=npz", f"data.path={tmp_path / 'mnist.npz'}")
    assert mnist.test.images.dtype == np.uint8  # 0..255 already: kept as the file holds them
    np.testing.assert_array_equal(mnist.test.images[..., 0], raw["x_test"])

    def npz_of(name: str, images: np.ndarray, *overrides: str) -> ImageData:
        np.savez(tmp_path / name, x_train=images.astype("float32"), y_train=raw["y_train"])
        path, no_test = f"data.path={tmp_path / name}", "data.arrays.x_test=null"
        return load(tmp_path, "data=npz", path, no_test, "data.arrays.y_test=null", *overrides)

    brightest = raw["x_train"].max()  # 250: the bands; the file's darkest pixel is 0
    for name, images, declared in (
        ("unit.npz", raw["x_train"] / 255, "[0,1]"),
        ("signed.npz", raw["x_train"] / 127.5 - 1, "[-1,1]"),
    ):
        scaled = npz_of(name, images, f"data.value_range={declared}")
        assert scaled.max_pixel_value == 255
        assert scaled.train.images.max() == pytest.approx(brightest)
        assert scaled.train.images.min() == pytest.approx(0, abs=1e-4)
    with caplog.at_level(logging.INFO):  # undeclared floats: 0..the brightest, stretched
        guessed = npz_of("unit.npz", raw["x_train"] / 255)
    assert guessed.train.images.max() == pytest.approx(255) and "pixels reach 0.98" in caplog.text
    with pytest.raises(DataError, match=r"pixels span -1\.\.0\.96.*outside data.value_range="):
        npz_of("signed.npz", raw["x_train"] / 127.5 - 1, "data.value_range=[0,1]")
    with pytest.raises(DataError, match=r"pixels are 0\.\.255 .* data.max_pixel_value=16;"):
        load(tmp_path, "data.max_pixel_value=16")


def test_a_source_of_another_pixel_range_is_refused(tmp_path) -> None:
    cfg = compose_into(tmp_path, "data._target_=tests.test_data.digits_as_counts")
    with pytest.raises(DataError, match=r"0\.\.16, but every model takes 0\.\.255.*value_range"):
        load_data(cfg.data, ["blueprint.*", "tests.*"])


def digits_as_counts(**options: object) -> ImageData:
    """A source of an older convention: the digits' own 0..16 counts."""
    from blueprint.data.digits import load_digits

    return dataclasses.replace(load_digits(**options), max_pixel_value=16.0)


def test_npz_without_the_named_arrays_or_corrupt(tmp_path) -> None:
    path = write_mnist_like_npz(tmp_path / "mnist.npz")
    with pytest.raises(DataError, match=r"no array 'images' for x_train.*data.arrays.x_train"):
        load(tmp_path, "data=npz", f"data.path={path}", "data.arrays.x_train=images")
    with pytest.raises(DataError, match=r"10 label values .* names 2; give one name per value"):
        load(tmp_path, "data=npz", f"data.path={path}", "data.class_names=[cat,dog]")
    (tmp_path / "corrupt.npz").write_bytes(path.read_bytes()[:100])
    with pytest.raises(DataError, match=r"not a readable \.npz"):
        load(tmp_path, "data=npz", f"data.path={tmp_path / 'corrupt.npz'}")


def test_mnist_reads_keras_cache_and_says_where_to_put_it_offline(
    tmp_path, monkeypatch, run_cli
) -> None:
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    cached = tmp_path / "keras" / "datasets" / "mnist.npz"
    offline = {proxy: "http://127.0.0.1:9" for proxy in ("HTTPS_PROXY", "https_proxy")}
    for proxy, address in offline.items():  # a subprocess: no download can leave this machine,
        monkeypatch.setenv(proxy, address)  # and urllib's proxy cache here stays clean
    result = run_cli("data=mnist")
    assert_one_line_error(result, f"mnist.npz is not at {cached}", "copy it to")
    for proxy in offline:
        monkeypatch.delenv(proxy)
    cached.parent.mkdir(parents=True, exist_ok=True)
    write_mnist_like_npz(cached, train=200, test=40)
    data = load(tmp_path, "data=mnist")
    assert data.num_classes == 10 and len(data.test) == 40 and len(data.val) == 20


# --- bad input ------------------------------------------------------------------------------------


def missing_folder(root: Path) -> Path:
    return root / "nothing"


def empty_folder(root: Path) -> Path:
    return root


def class_without_images(root: Path) -> Path:
    write_image_folder(root, {"a": 10})
    (root / "b").mkdir()
    (root / "b" / "readme.txt").write_text("no images here")
    return root


def single_class(root: Path) -> Path:
    return write_image_folder(root, {"only": 10})


def classes_too_small_to_split(root: Path) -> Path:
    return write_image_folder(root, {"a": 3, "b": 3})


@pytest.mark.parametrize(
    ("setup", "fragments"),
    [
        (missing_folder, ["does not exist", "data.path"]),
        (empty_folder, ["has no class sub-folders"]),
        (class_without_images, ["class 'b'", "no readable image", "data.class_names"]),
        (single_class, ["one class only"]),
        (classes_too_small_to_split, ["leave a class out of a split", "data.val_fraction"]),
    ],
)
def test_bad_folders_are_one_line_and_write_nothing(tmp_path, setup, fragments) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    with pytest.raises(DataError) as caught:
        load_folder(tmp_path, setup(root))
    assert "\n" not in str(caught.value)
    for fragment in fragments:
        assert fragment in str(caught.value), str(caught.value)
    assert not list((tmp_path / "inventories").glob("*/inventory.*"))


def test_image_size_too_small_for_the_model_names_the_key(tmp_path, folder) -> None:
    cfg = compose_into(tmp_path, "data=folder", f"data.path={folder}", "data.image_size=[4,4]")
    load_data(cfg.data, list(cfg.allowed_targets))
    with pytest.raises(ConfigError, match=r"too small .* data.image_size of at least \[5,5\]"):
        build_model(cfg, list(cfg.allowed_targets))


# --- augmentation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("option", ["flip_rotate", "light"])
def test_augmentation_is_inside_the_model_and_active_in_training_only(tmp_path, option) -> None:
    cfg = compose_into(tmp_path, f"augment={option}")
    load_data(cfg.data, list(cfg.allowed_targets))
    model = build_model(cfg, list(cfg.allowed_targets))
    augment = model.get_layer("augment")
    images = np.random.default_rng(0).uniform(0, 255, (8, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(augment(images, training=False), images)
    assert not np.allclose(augment(images, training=True), images)
    assert "augment" not in [layer.name for layer in build_plain_model(tmp_path).layers]


def build_plain_model(tmp: Path):
    cfg = compose_into(tmp)
    load_data(cfg.data, list(cfg.allowed_targets))
    return build_model(cfg, list(cfg.allowed_targets))


# --- end to end -------------------------------------------------------------------------------


@pytest.mark.slow  # over 20 s: CI runs it (make test-all)
def test_runs_on_a_folder_log_the_inventory_and_reuse_the_split(run_cli, tmp_path) -> None:
    folder = write_image_folder(tmp_path / "photos", {"cats": 15, "dogs": 15}, size=(16, 16))
    args = ("data=folder", f"data.path={folder}", "data.image_size=[16,16]", "model=mlp")
    args += ("trainer.epochs=1", "diagnostics=off", "tracking.log_model=false")
    outputs = [run_cli(*args, f"hydra.run.dir={tmp_path}/first")]  # a folder per run
    outputs.append(run_cli(*args, f"hydra.run.dir={tmp_path}/second"))
    write_image_folder(tmp_path / "more", {"dogs": 3}, size=(16, 16), seed=4)
    for image in (tmp_path / "more" / "dogs").iterdir():
        shutil.copy(image, folder / "dogs" / f"new_{image.name}")
    outputs.append(run_cli(*args, f"hydra.run.dir={tmp_path}/third"))
    for result in outputs:
        assert result.returncode == 0, result.stderr[-3000:]
    assert "3 files added, 0 removed and 0 changed" in outputs[2].stdout

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    runs = client.search_runs(["1"], order_by=["attributes.start_time ASC"])
    assert [run.info.status for run in runs] == ["FINISHED"] * 3
    inventories = []
    for run in runs:
        [dataset_input] = run.inputs.dataset_inputs
        assert dataset_input.dataset.name == "photos"
        assert json.loads(dataset_input.dataset.source)["uri"] == str(folder)
        assert dataset_input.dataset.digest == runs[0].inputs.dataset_inputs[0].dataset.digest
        assert run.data.tags["data.path"] == str(folder)  # a location: a tag, not a param
        local = client.download_artifacts(run.info.run_id, "data", str(tmp_path / run.info.run_id))
        inventories.append((Path(local) / "inventory.csv").read_text())
        counts = json.loads((Path(local) / "class_counts.json").read_text())
        assert {name: sum(c.values()) for name, c in counts.items()} == {"cats": 15, "dogs": 15}
        assert counts["cats"]["train"] == counts["dogs"]["train"] == 10
    assert inventories[0] == inventories[1] == inventories[2]


@pytest.mark.slow  # trains a run on real photos
def test_training_on_real_photos_of_mixed_sizes(run_cli, tmp_path) -> None:
    photos = write_photo_folder(tmp_path / "photos")
    result = run_cli("data=folder", f"data.path={photos}", "trainer.epochs=2", "augment=light")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "data: photos, 16/4/4 images (train/val/test), 2 classes" in result.stdout


@pytest.mark.slow  # starts several Python processes at once: CI runs it
def test_processes_starting_together_share_one_saved_split(tmp_path, folder) -> None:
    """Parallel sweep trials on a new folder: one lists and saves, the others wait and reuse."""
    script = (
        "import sys, json; from tests.helpers import compose_into; from pathlib import Path\n"
        "from blueprint.data.facts import load_data\n"
        f"cfg = compose_into(Path(sys.argv[1]), 'data=folder', 'data.path={folder}')\n"
        "data = load_data(cfg.data, list(cfg.allowed_targets))\n"
        "print(json.dumps(sorted(data.val.paths)))\n"
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(tmp_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err[-2000:] for _, err in outputs]
    assert len({out for out, _ in outputs}) == 1
    assert len(list((tmp_path / "inventories").glob("*/inventory.csv"))) == 1


def test_digits_resize_to_the_size_a_model_needs(compose_cfg) -> None:
    small = load_data(compose_cfg().data, ["blueprint.*"])
    cfg = compose_cfg("data.image_size=[32,24]")
    large = load_data(cfg.data, ["blueprint.*"])
    assert small.image_shape == (8, 8, 1) and large.image_shape == (32, 24, 1)
    assert list(cfg.data.image_shape) == [32, 24, 1]  # the fact the model reads, filled in
    assert large.train.labels.tolist() == small.train.labels.tolist()  # the same split
    assert large.train.images.min() >= 0 and 16 < large.train.images.max() <= 255


def test_a_long_check_of_the_files_shows_a_progress_bar(folder, monkeypatch, capsys) -> None:
    from blueprint.data import decoding

    paths = sorted(str(p) for p in folder.rglob("*.png"))
    monkeypatch.setattr(decoding, "PROGRESS_AFTER_S", 0.0)  # as if the check took long
    assert decoding.unreadable(paths) == {}
    assert f"{len(paths)}/{len(paths)}" in capsys.readouterr().out
    monkeypatch.setattr(decoding, "PROGRESS_AFTER_S", 60.0)  # a quick check shows nothing
    decoding.unreadable(paths)
    assert capsys.readouterr().out == ""
