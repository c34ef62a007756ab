"""Stage 1: an ultralytics YOLO detector, built from a model yaml (never downloaded weights)
and run with every online feature switched off."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import matplotlib
import numpy as np
import pandas as pd
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from medzoo.data.boxes import parse_boxes
from medzoo.data.images import image_size
from medzoo.heads.detection.backbones import PRETRAINED_BACKBONES
from medzoo.metrics.detection import Detections
from medzoo.paths import cache_dir

INTEGRATIONS = ("clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb")
# Model yamls medzoo ships beside ultralytics' own (which are found by name alone).
MODELS = Path(__file__).parent / "models"


def ultralytics():
    """The ultralytics package, configured offline: settings in medzoo's cache (with a bundled
    font standing in for the Arial it would download), no auto-install, no telemetry, and none
    of its tracker integrations."""
    config = cache_dir() / "ultralytics"
    font = config / "Ultralytics" / "Arial.ttf"
    if not font.is_file():
        font.parent.mkdir(parents=True, exist_ok=True)
        # DejaVu Sans ships with matplotlib; ultralytics only needs some TTF to label boxes.
        shutil.copy(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans.ttf", font)
    os.environ.setdefault("YOLO_CONFIG_DIR", str(config))
    os.environ.setdefault("YOLO_AUTOINSTALL", "False")
    os.environ.setdefault("YOLO_OFFLINE", "1")
    threads = torch.get_num_threads()
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))  # ultralytics would set 1
    try:
        import ultralytics as package
        from ultralytics.utils import torch_utils
    except ImportError as err:
        raise ImportError(
            "detection tasks need ultralytics: pip install 'ultralytics>=8.3'"
        ) from err
    # On CPU ultralytics sets torch's threads to (cores - 1), process-wide: one thread on a
    # 2-core machine, for YOLO and for every model trained after it. Keep the process's count.
    torch_utils.NUM_THREADS = threads
    # Its integrations switch themselves on when their package is installed: MLflow's, for one,
    # writes mlflow.db and mlruns/ into the working directory and calls mlflow.autolog(), which
    # then logs (and pickles) every Lightning model trained later in the same process — gigabytes
    # over one reproduction. The run folder keeps ultralytics' results.csv; trackers are medzoo's.
    package.settings.update({"sync": False, **dict.fromkeys(INTEGRATIONS, False)})
    return package


def check_model_yaml(model: str) -> None:
    if not str(model).endswith((".yaml", ".yml")):
        raise ValueError(
            f"head.detector.model={model!r}: give a model yaml such as yolov8n.yaml; a .pt name "
            "would be downloaded, and this machine may be offline"
        )


def model_yaml(model: str) -> str:
    """What ultralytics should build: one of medzoo's yamls (``models/``) by name, else the
    name or path as given (ultralytics' own yamls, such as yolov8n.yaml, by name)."""
    check_model_yaml(model)
    own = MODELS / str(model)
    return str(own) if own.is_file() else str(model)


def torchvision_backbone(spec: Mapping) -> str | None:
    """The torchvision model named by a yaml's first layer, when that layer is TorchVision."""
    first = spec["backbone"][0]
    return str(first[3][1]) if first[2] == "TorchVision" else None


def fold_imagenet_normalisation(conv: torch.nn.Conv2d, norm: torch.nn.BatchNorm2d) -> None:
    """Make a stem trained on ImageNet-normalised RGB take what YOLO feeds it, RGB in [0, 1]:
    conv((x - mean) / std) = conv'(x) - c, with the per-channel 1/std in conv' and the constant
    c moved into the batch norm's running mean (exact away from the zero-padded border)."""
    mean = torch.tensor(IMAGENET_DEFAULT_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_DEFAULT_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        conv.weight.div_(std)
        norm.running_mean.add_((conv.weight * mean).sum(dim=(1, 2, 3)))


def initial_weights(
    model: str, workdir: Path, frozen_layers: int = 0
) -> tuple[str, Path | None, list[str]]:
    """The yaml to build, the checkpoint to start from (None: from scratch) and ultralytics'
    ``freeze`` list. A yaml whose backbone is a torchvision model with offline ImageNet weights
    gets a checkpoint (``workdir/initial.pt``) of the built model holding those weights, its
    first ``frozen_layers`` backbone layers kept frozen (the costly ones at high resolution)."""
    source = model_yaml(model)
    ultralytics()
    from ultralytics.nn.tasks import DetectionModel, yaml_model_load

    backbone = torchvision_backbone(yaml_model_load(source))
    if backbone is None:
        if frozen_layers:
            raise ValueError(
                f"head.detector.frozen_layers={frozen_layers}: {model} has no pretrained "
                "backbone to freeze; set it to 0"
            )
        return source, None, []
    if backbone not in PRETRAINED_BACKBONES:
        raise ValueError(
            f"head.detector.model={model!r}: no offline ImageNet weights for its torchvision "
            f"backbone {backbone!r}; medzoo has them for {sorted(PRETRAINED_BACKBONES)}"
        )
    built = DetectionModel(source, verbose=False)
    layers = built.model[0].m  # TorchVision unwrapped: the backbone's layers in order
    own = layers.state_dict()
    state = {k: v for k, v in PRETRAINED_BACKBONES[backbone]().items() if k in own}
    layers.load_state_dict(state, strict=True)  # every layer the yaml keeps must be covered
    stem = layers[0]
    fold_imagenet_normalisation(stem[0], stem[1])
    checkpoint = workdir.resolve() / "initial.pt"
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": built, "train_args": {}}, checkpoint)
    # ultralytics freezes parameters whose names contain "model.<entry>.": layer i of the
    # backbone is model.0.m.i.
    return source, checkpoint, [f"0.m.{i}" for i in range(frozen_layers)]


def write_yolo_dataset(frame: pd.DataFrame, folder: Path) -> Path:
    """A single-class ('lesion') YOLO dataset of the train and val rows of ``frame`` (columns
    image, boxes, split) under ``folder``: images linked, labels normalised; returns its yaml."""
    for split in ("train", "val"):
        rows = frame[frame["split"] == split]
        (folder / "images" / split).mkdir(parents=True)
        (folder / "labels" / split).mkdir(parents=True)
        for index, (image, cell) in enumerate(zip(rows["image"], rows["boxes"], strict=True)):
            source = Path(image)
            name = f"{index:05d}{source.suffix.lower()}"
            (folder / "images" / split / name).symlink_to(source.resolve())
            width, height = image_size(source)
            lines = [
                f"0 {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
                f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
                for x1, y1, x2, y2 in parse_boxes(cell, image)
            ]
            (folder / "labels" / split / f"{index:05d}.txt").write_text("\n".join(lines))
    spec = folder / "data.yaml"
    spec.write_text(
        f"path: {folder.resolve()}\ntrain: images/train\nval: images/val\nnames:\n  0: lesion\n"
    )
    return spec


def train_yolo(
    spec: Path,
    model: str,
    epochs: int,
    image_size: int,
    batch: int,
    seed: int,
    workdir: Path,
    patience: int = 100,
    device: str = "cpu",
    frozen_layers: int = 0,
) -> Path:
    """Train (from scratch, or from an ImageNet backbone where the yaml names one); returns
    the best weights (ultralytics' fitness on the val split)."""
    source, start, frozen = initial_weights(model, workdir, frozen_layers)
    yolo = ultralytics().YOLO(source)
    yolo.train(
        data=str(spec),
        epochs=epochs,
        imgsz=image_size,
        batch=batch,
        seed=seed,
        deterministic=True,
        patience=patience,
        device=device,
        workers=0,
        amp=False,
        plots=False,
        pretrained=str(start) if start else False,  # ultralytics loads what matches by name
        freeze=frozen or None,
        project=str(workdir.resolve()),  # ultralytics puts a relative project under its own runs/
        name="train",
        exist_ok=False,
        verbose=False,
    )
    best = workdir.resolve() / "train" / "weights" / "best.pt"
    if not best.is_file():
        raise FileNotFoundError(f"ultralytics finished without writing {best}")
    return best


class YoloDetector:
    """Boxes and confidences for grey or RGB uint8 frames."""

    def __init__(
        self, weights: str | Path, image_size: int, floor: float = 0.01, max_boxes: int = 10
    ) -> None:
        weights = Path(weights).expanduser().resolve()
        if not weights.is_file():  # ultralytics would take a missing name for one to download
            raise FileNotFoundError(f"detector weights {weights} do not exist")
        self.model = ultralytics().YOLO(str(weights))
        self.image_size, self.floor, self.max_boxes = image_size, floor, max_boxes

    def __call__(self, frames: Sequence[np.ndarray]) -> list[Detections]:
        bgr = [
            cv2.cvtColor(f, cv2.COLOR_GRAY2BGR)
            if f.ndim == 2 or f.shape[2] == 1
            else cv2.cvtColor(f, cv2.COLOR_RGB2BGR)
            for f in frames
        ]
        results = self.model.predict(
            bgr,
            imgsz=self.image_size,
            conf=self.floor,
            max_det=self.max_boxes,
            device="cpu",
            verbose=False,
        )
        return [Detections(r.boxes.xyxy.cpu().numpy(), r.boxes.conf.cpu().numpy()) for r in results]
