"""The schema of every config group: the keys a run reads, their types and their valid ranges.

Checked by `blueprint.validation.validate` after Hydra composes and before anything is written, in
single runs and in every sweep trial. Strict types: `trainer.epochs=2.0` is not an integer and
`trainer.deterministic=maybe` is not a boolean. Our own builders get every key checked (`extra`
forbidden); library classes (Keras optimizers, losses, callbacks) may take any of their own
arguments, which instantiation then checks, and a user's own `_target_` is checked by its builder.
"""

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

Fraction = Annotated[float, Field(gt=0, lt=1, examples=[0.15])]
Dropout = Annotated[float, Field(ge=0, lt=1, examples=[0.5])]
Seed = Annotated[int, Field(ge=0, le=2**32 - 1, examples=[42])]  # NumPy's seed range
Units = Annotated[list[Annotated[int, Field(ge=1)]], Field(examples=["[128,64]"])]
Shape = Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=3, max_length=3)]
NumClasses = Annotated[int, Field(ge=2, examples=[10])]
Name = Annotated[str, Field(min_length=1, pattern=r"^[^/\\]+$", examples=["baseline"])]
Direction = Literal["maximize", "minimize"]
Task = Literal["classification", "binary", "regression", "segmentation"]
Dpi = Annotated[int, Field(ge=20, le=600, examples=[80])]
WorstImages = Annotated[int, Field(ge=0, le=400, examples=[16])]
# Keras activation names a dense layer takes by string.
Activation = Literal[
    "relu", "gelu", "elu", "selu", "silu", "swish", "tanh", "sigmoid", "softplus", "leaky_relu",
    "mish", "linear",
]  # fmt: skip


class Schema(BaseModel):
    """Every key known, typed strictly, nothing unknown."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Component(Schema):
    """A `_target_` config node."""

    target: str = Field(alias="_target_", min_length=1)


class LibraryComponent(Component):
    """A library class: its own constructor arguments are allowed and checked when it is built."""

    model_config = ConfigDict(extra="allow")


# --- data ---------------------------------------------------------------------------------


class ImageDataFacts(Component):
    """What other groups read from `data`: null is filled in from the data, a value is checked."""

    num_classes: NumClasses | None
    image_shape: Shape | None
    max_pixel_value: Annotated[float | None, Field(gt=0, allow_inf_nan=False, examples=[255.0])]


class SplitFractions(ImageDataFacts):
    val_fraction: Fraction
    test_fraction: Fraction
    seed: Seed

    @model_validator(mode="after")
    def _leaves_a_training_split(self) -> "SplitFractions":
        held_out = self.val_fraction + self.test_fraction
        if held_out >= 1:
            raise ValueError(
                f"data.val_fraction + data.test_fraction = {held_out:g} leaves nothing to train "
                "on; keep the sum below 1, e.g. data.val_fraction=0.15 data.test_fraction=0.15"
            )
        return self


ImageSize = Annotated[
    list[Annotated[int, Field(ge=1, le=8192)]],
    Field(min_length=2, max_length=2, examples=["[64,64]"]),
]


class DigitsData(SplitFractions):
    classes: Annotated[
        list[Annotated[int, Field(ge=0, le=9)]] | None, Field(min_length=2, examples=["[3,8]"])
    ] = None
    image_size: ImageSize


class ShapesData(SplitFractions):
    task: Task
    count: Annotated[int, Field(ge=20, le=1_000_000, examples=[600])]
    image_size: ImageSize
    shapes: Annotated[
        list[Literal["circle", "square", "triangle"]],
        Field(min_length=1, examples=["[circle,square]"]),
    ]

    @model_validator(mode="after")
    def _two_classes_to_tell_apart(self) -> "ShapesData":
        if len(set(self.shapes)) < len(self.shapes):
            raise ValueError(f"data.shapes={self.shapes} names a shape twice; name each once")
        if self.task in ("classification", "binary") and len(set(self.shapes)) < 2:
            raise ValueError(
                f"data.shapes={self.shapes} gives one class to learn; name two or three, "
                "e.g. data.shapes=[circle,square]"
            )
        return self


ClassNames = Annotated[
    list[Annotated[str, Field(min_length=1)]] | None, Field(min_length=2, examples=["[cats,dogs]"])
]


class FilesData(SplitFractions):
    path: Annotated[str, Field(min_length=1, examples=["~/photos"])]
    class_names: ClassNames
    image_size: ImageSize
    color_mode: Literal["rgb", "grayscale"]
    rebuild: bool
    cache: Annotated[str, Field(min_length=1, examples=["memory"])]
    inventory_dir: Annotated[str, Field(min_length=1)]


class MasksData(FilesData):
    masks_path: Annotated[str, Field(min_length=1, examples=["~/cells/masks"])]
    class_names: Annotated[
        list[Annotated[str, Field(min_length=1)]],
        Field(min_length=2, examples=["[background,cell]"]),
    ]


class NpzArrays(Schema):
    x_train: Annotated[str, Field(min_length=1)]
    y_train: Annotated[str, Field(min_length=1)]
    x_test: str | None
    y_test: str | None


class NpzData(SplitFractions):
    path: Annotated[str, Field(min_length=1, examples=["~/data/mnist.npz"])]
    arrays: NpzArrays
    class_names: ClassNames
    # the arrays' pixel range, mapped onto the 0..255 every model takes
    value_range: Annotated[
        list[Annotated[float, Field(allow_inf_nan=False)]] | None,
        Field(min_length=2, max_length=2, examples=["[0,1]"]),
    ] = None

    @field_validator("value_range")
    @classmethod
    def _low_below_high(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError(f"{value} is [low,high]: low must be below high")
        return value


class MnistData(ImageDataFacts):
    path: str | None
    val_fraction: Fraction
    seed: Seed


# --- model --------------------------------------------------------------------------------


class ImageModel(Component):
    """Shape, classes and scale come from `data`: null until the data fills them in."""

    name: Name
    input_shape: Shape | None
    num_classes: NumClasses | None
    input_scale: Annotated[float | None, Field(gt=0, allow_inf_nan=False, examples=[255.0])]
    task: Task
    dropout: Dropout
    # An earlier model to start from: a run id, models:/ URI or path (the run checks it exists).
    initial_weights: Annotated[str | None, Field(min_length=1, examples=["<run id>"])] = None

    per_pixel: ClassVar[bool] = False  # a mask per image (segmentation) or an output per image

    @model_validator(mode="after")
    def _fits_the_task(self) -> "ImageModel":
        if self.per_pixel and self.task != "segmentation":
            raise ValueError(
                f"model={self.name} predicts a mask per image, for task=segmentation only; use "
                f"model=cnn (or another) for task={self.task}"
            )
        if not self.per_pixel and self.task == "segmentation":
            raise ValueError(
                f"model={self.name} gives one output per image, task=segmentation one per pixel; "
                "use model=unet"
            )
        return self


class CnnModel(ImageModel):
    filters: Annotated[Units, Field(min_length=1, examples=["[64,128,256]"])]
    dense_units: Units


class MlpModel(ImageModel):
    hidden_units: Annotated[Units, Field(min_length=1, examples=["[256,128]"])]
    activation: Activation


class UnetModel(ImageModel):
    per_pixel: ClassVar[bool] = True
    filters: Annotated[Units, Field(min_length=1, max_length=6, examples=["[16,32,64]"])]


class ZooModel(ImageModel):
    """A keras.applications backbone; its minimum input size is checked by its builder."""

    weights: Annotated[str, Field(min_length=1, examples=["none", "imagenet"])]
    freeze_backbone: bool
    # A layer index (the builder checks it is below the backbone's layer count) or a fraction.
    fine_tune_at: Annotated[float, Field(ge=0, allow_inf_nan=False, examples=[0.7])] | None

    @field_validator("fine_tune_at", mode="before")
    @classmethod
    def _index_or_fraction(cls, value: Any) -> Any:
        if isinstance(value, float) and value >= 1:
            raise ValueError("it should be a layer index (a whole number) or a fraction below 1")
        return value

    @model_validator(mode="after")
    def _freezes_one_way(self) -> "ZooModel":
        if self.freeze_backbone and self.fine_tune_at is not None:
            raise ValueError(
                "model.freeze_backbone=true freezes the whole backbone, so model.fine_tune_at "
                "cannot apply; set one of them (fine_tune_at=null to train the head alone)"
            )
        return self


MOBILENET_V2_IMAGENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)  # widths with ImageNet weights


class MobileNetV2Model(ZooModel):
    alpha: Annotated[float, Field(gt=0, le=1.4, allow_inf_nan=False, examples=[0.35])]

    @model_validator(mode="after")
    def _has_imagenet_weights(self) -> "MobileNetV2Model":
        if self.weights == "imagenet" and self.alpha not in MOBILENET_V2_IMAGENET_ALPHAS:
            raise ValueError(
                f"model.alpha={self.alpha:g} has no ImageNet weights; use one of "
                f"{', '.join(f'{a:g}' for a in MOBILENET_V2_IMAGENET_ALPHAS)} or model.weights=none"
            )
        return self


# --- optimizer, loss, metrics, callbacks ----------------------------------------------------


class Optimizer(LibraryComponent):
    """`lr` is every optimizer's learning rate (passed as Keras' `learning_rate`)."""

    lr: Annotated[float, Field(gt=0, allow_inf_nan=False, examples=["1e-3"])]
    weight_decay: Annotated[float | None, Field(ge=0, examples=["4e-3"])] = None
    momentum: Annotated[float | None, Field(ge=0, le=1, examples=[0.9])] = None
    rho: Annotated[float | None, Field(gt=0, lt=1, examples=[0.9])] = None
    nesterov: bool | None = None
    clipnorm: Annotated[float | None, Field(gt=0, allow_inf_nan=False, examples=[1.0])] = None


class AutoLoss(Component):
    task: Task
    num_classes: NumClasses | None  # from `data`: null until the data fills it in


class Callbacks(RootModel[dict[str, LibraryComponent]]):
    """Named entries, each a Keras (or your own) callback."""


# --- schedule -----------------------------------------------------------------------------

LearningRate = Annotated[float, Field(gt=0, allow_inf_nan=False, examples=["1e-3"])]


class CosineSchedule(Component):
    lr: LearningRate
    epochs: Annotated[int, Field(ge=1, examples=[15])]
    warmup_epochs: Annotated[int, Field(ge=0, examples=[1])]
    min_lr: Annotated[float, Field(ge=0, allow_inf_nan=False, examples=[0.0])]

    @model_validator(mode="after")
    def _decays_after_warming_up(self) -> "CosineSchedule":
        if self.warmup_epochs >= self.epochs:
            raise ValueError(
                f"schedule.warmup_epochs={self.warmup_epochs} leaves no epoch of the "
                f"{self.epochs} to decay in; keep it below trainer.epochs"
            )
        if self.min_lr >= self.lr:
            raise ValueError(
                f"schedule.min_lr={self.min_lr:g} is not below optimizer.lr={self.lr:g}; "
                "lower it, e.g. schedule.min_lr=0"
            )
        return self


class StepSchedule(Component):
    lr: LearningRate
    every_epochs: Annotated[int, Field(ge=1, examples=[5])]
    factor: Annotated[float, Field(gt=0, le=1, examples=[0.5])]


class ReduceOnPlateauSchedule(Component):
    monitor: Annotated[str, Field(min_length=1, examples=["val_loss"])]
    mode: Literal["min", "max", "auto"]
    factor: Annotated[float, Field(gt=0, lt=1, examples=[0.5])]
    patience: Annotated[int, Field(ge=0, examples=[3])]
    min_lr: Annotated[float, Field(ge=0, allow_inf_nan=False, examples=["1e-6"])]
    state_file: Annotated[str, Field(min_length=1)] | None


# --- diagnostics --------------------------------------------------------------------------


class Diagnostics(Component):
    every_n_epochs: Annotated[int, Field(ge=1, examples=[5])]
    layers: Annotated[list[str], Field(min_length=1, examples=['["conv*","head"]'])]
    weightless_activations: bool
    probe_size: Annotated[int, Field(ge=1, le=4096, examples=[32])]
    probe_seed: Seed
    metrics: Literal["summary", "all"]
    process: bool
    bins: Annotated[int, Field(ge=2, le=1000, examples=[30])]
    dpi: Dpi
    diagram: bool
    evaluation: bool
    sweep_evaluation: Literal["improving", "every"]
    worst_images: WorstImages
    monitor: Annotated[str, Field(min_length=1)]
    direction: Direction


# --- trainer, tracking, paths and the run-wide keys -----------------------------------------


class Trainer(Schema):
    epochs: Annotated[int, Field(ge=1, examples=[10])]
    batch_size: Annotated[int, Field(ge=1, examples=[32])]
    seed: Seed
    deterministic: bool
    verbose: Literal[0, 1, 2]
    class_weight: Literal["balanced"] | None
    # batch_size is per replica; see blueprint/training/distribution.py
    distribution: Literal["none", "mirrored", "multi_worker"]
    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"]
    steps_per_execution: Literal["auto"] | Annotated[int, Field(ge=1, examples=[32])]
    jit_compile: Literal["auto", True, False]
    backup_share: Annotated[float, Field(gt=0, le=1, examples=[0.05])]

    @model_validator(mode="after")
    def _one_step_per_execution_under_a_strategy(self) -> "Trainer":
        steps = self.steps_per_execution
        if self.distribution != "none" and steps not in ("auto", 1):
            raise ValueError(
                f"trainer.steps_per_execution={steps} with trainer.distribution="
                f"{self.distribution}: Keras' multi-step loop fails under a tf.distribute "
                "strategy; use auto (1 there) or 1"
            )
        return self


class Tracking(Schema):
    uri: Annotated[str, Field(min_length=1)]
    artifact_location: str | None
    experiment_name: Name
    run_name: Annotated[str, Field(min_length=1)] | None
    log_model: bool
    sweep_models: Literal["improving", "every"]
    register_model: Name | None

    @model_validator(mode="after")
    def _registers_a_logged_model(self) -> "Tracking":
        if self.register_model and not self.log_model:
            raise ValueError(
                "tracking.register_model needs tracking.log_model=true: only a logged model "
                "can be registered"
            )
        return self


class Paths(Schema):
    root_dir: str
    inventory_dir: Annotated[str, Field(min_length=1)]
    output_dir: str | None  # null until Hydra starts the job (the sweeper checks trials before)


class Objective(Schema):
    metric: Annotated[str, Field(min_length=1, examples=["val_accuracy"])]
    direction: Direction


class Repeats(Schema):
    """How often a sweep trains each point (`hydra.sweeper.repeats`, seeds trainer.seed + 0..k-1)
    and how the trial's objective sums its runs up (`blueprint.sweeps.repeats`)."""

    repeats: Annotated[int, Field(ge=1, examples=[3])] = 1
    repeat_reduce: Literal["mean", "median"] = "mean"


class Sweep(Repeats):
    """Written by the sweeper for each trial (`blueprint.sweeps.contract.TrialNode`, which writes
    and reads it); never set by hand. The repeat keys are left out at their defaults."""

    study: Annotated[str, Field(min_length=1)]
    storage: Annotated[str, Field(min_length=1)]  # the study's storage URL
    trial: Annotated[int, Field(ge=0)]  # the Optuna trial number the job runs
    parent_run_id: Annotated[str, Field(min_length=1)]  # the sweep's run, the job's run's parent
    threads: Annotated[int, Field(ge=1)] | None  # the job's CPU share when trials run in parallel
    devices: list[str] | None = None  # each slot's CUDA_VISIBLE_DEVICES (gpus_per_trial)


class Run(Schema):
    """The run-wide keys of conf/train.yaml; each group is checked by its own schema."""

    experiment_name: Name
    task: Task
    resume: Annotated[str, Field(min_length=1, examples=["last"])] | None
    force: bool
    metrics: Annotated[list[Any], Field(examples=["[accuracy]"])]
    objective: Objective
    sweep: Sweep | None
    allowed_targets: Annotated[list[str], Field(min_length=1, examples=["[blueprint.*,keras.*]"])]

    @field_validator("metrics")
    @classmethod
    def _metric_entries(cls, entries: list[Any]) -> list[Any]:
        for entry in entries:
            if isinstance(entry, dict):
                LibraryComponent.model_validate(entry)
            elif not isinstance(entry, str) or not entry:
                raise ValueError(
                    f"entry {entry!r} is neither a Keras metric name nor a _target_ node"
                )
        return entries


class UseModel(Schema):
    """The keys every command that uses a trained model shares (conf/commands/)."""

    model: Annotated[str, Field(min_length=1, examples=["models:/digits@champion"])]
    batch_size: Annotated[int, Field(ge=1, examples=[64])]
    safe_mode: bool
    log_to_mlflow: bool
    tracking_uri: Annotated[str, Field(min_length=1)]


class PredictRun(UseModel):
    """conf/commands/predict.yaml."""

    input: Annotated[str, Field(min_length=1, examples=["~/photos/new"])]
    output: Annotated[str, Field(min_length=1, examples=["predictions.csv"])]
    force: bool


class ExportRun(UseModel):
    """conf/commands/export.yaml."""

    format: Literal["keras", "saved_model", "tflite", "tflite_int8", "onnx"]
    output: Annotated[str, Field(min_length=1, examples=["model.tflite"])] | None
    force: bool
    verify_images: Annotated[int, Field(ge=1, le=100_000, examples=[200])]
    calibration_images: Annotated[int, Field(ge=1, le=100_000, examples=[300])]


class EvaluateRun(UseModel):
    """conf/commands/evaluate.yaml."""

    worst_images: WorstImages


# Schemas of groups whose keys do not depend on the option.
GROUPS: dict[str, type[BaseModel]] = {
    "trainer": Trainer,
    "tracking": Tracking,
    "paths": Paths,
    "optimizer": Optimizer,
    "callbacks": Callbacks,
}

# Schemas of the options we ship, by `_target_`; a user's own target is checked by its builder.
TARGETS: dict[str, type[BaseModel]] = {
    "blueprint.data.digits.load_digits": DigitsData,
    "blueprint.data.files.load_folder": FilesData,
    "blueprint.data.files.load_csv": FilesData,
    "blueprint.data.mask_files.load_masks": MasksData,
    "blueprint.data.npz.load_npz": NpzData,
    "blueprint.data.shapes.load_shapes": ShapesData,
    "blueprint.data.npz.load_mnist": MnistData,
    "blueprint.models.cnn.build_cnn": CnnModel,
    "blueprint.models.mlp.build_mlp": MlpModel,
    "blueprint.models.unet.build_unet": UnetModel,
    "blueprint.models.zoo.build_mobilenet_v2": MobileNetV2Model,
    "blueprint.models.zoo.build_xception": ZooModel,
    "blueprint.models.zoo.build_efficientnet_b0": ZooModel,
    "blueprint.models.heads.task_loss": AutoLoss,
    "blueprint.diagnostics.factory.build_diagnostics": Diagnostics,
    "blueprint.diagnostics.factory.no_diagnostics": Component,
    "blueprint.training.schedules.no_schedule": Component,
    "blueprint.training.schedules.cosine": CosineSchedule,
    "blueprint.training.schedules.step": StepSchedule,
    "blueprint.training.schedules.ReduceOnPlateau": ReduceOnPlateauSchedule,
}


def schema_for(group: str, node: Any) -> type[BaseModel] | None:
    """The schema that checks `node` of `group`, or None where the option's own code checks it."""
    if group in GROUPS:
        return GROUPS[group]
    if isinstance(node, dict) and isinstance(node.get("_target_"), str):
        target = node["_target_"]
        if target.startswith("keras."):  # a Keras class: Keras checks its own arguments
            return TARGETS.get(target, LibraryComponent)
        return TARGETS.get(target)
    return None
