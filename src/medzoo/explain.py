"""``python -m medzoo.explain run=<run dir | checkpoint | release> input=<image | folder>
[class=<name>] [out=<folder>]``: Grad-CAM heat maps over the images a classification run sees.

Each image is preprocessed as the run's model card says (letterboxed to the training size);
Grad-CAM (the ``grad-cam`` package) weights the last feature stage of the backbone by the
gradient of the explained output: the class the model predicts, or ``class=<name>``. For a
binary head the explained output is the positive class's logit. Each figure shows the image at
its own size (enlarged to at least ``MIN_HEIGHT`` px where it is smaller) beside the heat map
laid back over it, under a title naming the task, the explained class and its probability.
Figures and a CSV of the probabilities go to ``<run>/explanations/<timestamp>/`` (a release:
``out=`` is required, the release stays as published); nothing is overwritten.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from medzoo.commands import UsageError, key_values, user_errors
from medzoo.data.datamodule import to_tensor
from medzoo.data.images import read_image, unfit_square
from medzoo.heads import head_of, locate
from medzoo.predictor import Predictor
from medzoo.releases import is_release, load
from medzoo.video.stream import list_images

MIN_HEIGHT = 256  # px: smaller images are enlarged so that the figure can be read


def target_layer(module: torch.nn.Module) -> torch.nn.Module:
    """The backbone's last feature stage (timm's ``feature_info``), where Grad-CAM looks."""
    info = getattr(module.net, "feature_info", None)
    if not info:
        raise UsageError(f"backbone {module.hparams.backbone!r} does not name its feature stages")
    return module.net.get_submodule(info[-1]["module"])


def heat_maps(predictor: Predictor, squares: np.ndarray, class_index: int | None) -> np.ndarray:
    """(n, size, size) Grad-CAM maps in [0, 1] for letterboxed uint8 images."""
    try:
        from pytorch_grad_cam import GradCAM
        from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    except ImportError as err:
        raise UsageError(
            f"explanations need grad-cam: pip install 'medzoo[explain]' ({err})"
        ) from err
    module = predictor.module
    batch = to_tensor(squares).to(module.device)
    if getattr(module, "single_logit", False):
        targets = [ClassifierOutputTarget(0)] * len(squares)
    elif class_index is not None:
        targets = [ClassifierOutputTarget(class_index)] * len(squares)
    else:
        targets = None  # each image's predicted class
    with GradCAM(model=module, target_layers=[target_layer(module)]) as cam:
        return cam(input_tensor=batch, targets=targets)


def overlay(square: np.ndarray, heat: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The image in grey or colour with the heat map (jet) blended over it, uint8 RGB."""
    rgb = square if square.shape[-1] == 3 else np.repeat(square[..., :1], 3, axis=-1)
    colour = cv2.applyColorMap(np.uint8(255 * heat), cv2.COLORMAP_JET)[..., ::-1]
    return np.uint8((1 - alpha) * rgb + alpha * colour)


def explained_figure(image: np.ndarray, heat: np.ndarray, title: str) -> np.ndarray:
    """uint8 RGB: a title bar over the image (left) and the heat map blended over it (right),
    both at the image's own size or enlarged to ``MIN_HEIGHT``. ``heat``: in the image's frame."""
    rgb = image if image.shape[-1] == 3 else np.repeat(image[..., :1], 3, axis=-1)
    height, width = rgb.shape[:2]
    scale = max(1.0, MIN_HEIGHT / height)
    if scale > 1:
        size = (round(width * scale), round(height * scale))
        rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_LINEAR)
        heat = cv2.resize(heat, size, interpolation=cv2.INTER_LINEAR)
    gap = np.full((rgb.shape[0], 8, 3), 255, dtype=np.uint8)
    panels = np.concatenate([rgb, gap, overlay(rgb, np.clip(heat, 0, 1))], axis=1)
    font, thickness = cv2.FONT_HERSHEY_SIMPLEX, 1
    (text_width, _), _ = cv2.getTextSize(title, font, 1.0, thickness)
    font_scale = min(0.6, 0.95 * (panels.shape[1] - 12) / max(text_width, 1))
    bar = np.full((30, panels.shape[1], 3), 255, dtype=np.uint8)
    cv2.putText(bar, title, (6, 21), font, font_scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return np.concatenate([bar, panels], axis=0)


def explain(
    target: str | Path,
    images: str | Path,
    class_name: str | None = None,
    batch_size: int = 16,
    out: str | Path | None = None,
) -> Path:
    predictor = load(target)
    if not head_of(predictor.head).explainable:
        raise UsageError(
            f"Grad-CAM explains classification runs; this run's head is {predictor.head!r} "
            "(a segmentation run's probability map is already per pixel)"
        )
    class_index = None
    if class_name is not None:
        if class_name not in predictor.class_names:
            raise UsageError(f"unknown class {class_name!r}; classes: {predictor.class_names}")
        class_index = predictor.class_names.index(class_name)
    root, paths = list_images(images)
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")
    if out is not None:
        out = Path(out).expanduser() / stamp
    elif is_release(Path(target).expanduser()):
        raise UsageError(f"{target} is a release, which stays as published: give out=<folder>")
    else:
        out = locate(target)[0].path / "explanations" / stamp
    out.mkdir(parents=True)
    rows = []
    for start in range(0, len(paths), batch_size):
        chunk = paths[start : start + batch_size]
        squares = predictor.prepare(chunk)
        probabilities = predictor.predict(list(squares))
        maps = heat_maps(predictor, squares, class_index)
        for path, heat, probs in zip(chunk, maps, probabilities, strict=True):
            if getattr(predictor.module, "single_logit", False):
                explained = predictor.class_names[1]
            elif class_index is not None:
                explained = predictor.class_names[class_index]
            else:
                explained = predictor.class_names[int(np.argmax(probs))]
            name = "__".join(path.relative_to(root).with_suffix("").parts) + f"__{explained}.png"
            image = read_image(path, 3)
            probability = float(probs[predictor.class_names.index(explained)])
            title = f"{predictor.task}: {explained} p={probability:.2f} ({path.name})"
            heat_on_image = unfit_square(heat.astype(np.float32), *image.shape[:2])
            cv2.imwrite(str(out / name), explained_figure(image, heat_on_image, title)[..., ::-1])
            rows.append(
                {
                    "image": str(path),
                    "overlay": name,
                    "explained_class": explained,
                    **{
                        f"prob_{c}": float(p)
                        for c, p in zip(predictor.class_names, probs, strict=True)
                    },
                }
            )
    pd.DataFrame(rows).to_csv(out / "explanations.csv", index=False)
    return out


USAGE = (
    "usage: python -m medzoo.explain run=<run dir | checkpoint | release> "
    "input=<image | folder> [class=<name>] [out=<folder>]"
)


def main(argv: Sequence[str] | None = None) -> None:
    with user_errors():
        arguments = key_values(
            sys.argv[1:] if argv is None else argv,
            ("run", "input", "class", "out"),
            USAGE,
            required=("run", "input"),
        )
        out = explain(
            arguments["run"], arguments["input"], arguments.get("class"), out=arguments.get("out")
        )
    print(f"overlays and explanations.csv: {out}")


if __name__ == "__main__":
    main()
