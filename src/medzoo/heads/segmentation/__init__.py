"""The segmentation head: a U-Net (``module.SegmentationModule``) trained on crops of images
and masks (``data``), scored on whole images inside their region of interest."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from medzoo.heads.base import Head
from medzoo.heads.segmentation.data import SegmentationDataModule, load_masks
from medzoo.heads.segmentation.module import SegmentationModule
from medzoo.metrics.plots import plot_segmentation_examples
from medzoo.metrics.protocol import BootstrapSpec, ThresholdRule
from medzoo.metrics.segmentation import MaskSet, evaluate_segmentation
from medzoo.models.views import predict
from medzoo.reporting.model_card import write_reports
from medzoo.reporting.report import segmentation_tables
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import TaskCard


def build_segmentation_datamodule(
    cfg: DictConfig, card: TaskCard | None = None
) -> SegmentationDataModule:
    data = OmegaConf.to_container(cfg.data, resolve=True)
    return SegmentationDataModule(
        recipe=data["recipe"],
        image_size=data["image_size"],
        channels=data["channels"],
        crop_size=data["crop_size"],
        crops_per_image=data.get("crops_per_image", 32),
        root=data.get("root"),
        params=data.get("params"),
        split=data.get("split"),
        batch_size=data.get("batch_size", 16),
        num_workers=data.get("num_workers", 0),
        augment=data.get("augment"),
        near_duplicates=data.get("near_duplicates"),
        near_duplicates_across_splits=data.get("near_duplicates_across_splits", "error"),
        max_image_pixels=data.get("max_image_pixels"),
        allow_outside_root=data.get("allow_outside_root", False),
    )


def build_segmentation_module(cfg: DictConfig, card: TaskCard) -> SegmentationModule:
    model = OmegaConf.to_container(cfg.model, resolve=True)
    return SegmentationModule(
        backbone=model["backbone"],
        in_chans=cfg.data.channels,
        image_size=cfg.data.image_size,
        pretrained=model.get("pretrained", False),
        weights=model.get("weights"),
        decoder_channels=tuple(model.get("decoder_channels", (128, 64, 32, 16, 8))),
        lr=model.get("lr", 1e-3),
        weight_decay=model.get("weight_decay", 1e-4),
        task=card.name,
        class_names=tuple(card.class_names),
        tta=tuple(model.get("tta") or ()),
    )


@torch.inference_mode()
def predict_masks(
    module: SegmentationModule, datamodule: SegmentationDataModule, split: str
) -> MaskSet:
    module.eval()
    truths, probabilities, regions = [], [], []
    for images, masks, region in datamodule.loader(split):
        probabilities.append(predict(module, images.to(module.device))[0, 0].cpu())
        truths.append(masks[0, 0] > 0.5)
        regions.append(region[0, 0])
    frame = datamodule.split_frame(split)
    second = None
    if "mask_2nd" in frame.columns and (frame["mask_2nd"] != "").any():
        loaded = load_masks(frame["mask_2nd"].tolist(), datamodule.image_size)
        second = [m if p else None for m, p in zip(loaded, frame["mask_2nd"], strict=True)]
    return MaskSet(
        truths=[t.numpy() for t in truths],
        probabilities=[p.double().numpy() for p in probabilities],
        regions=[r.numpy() for r in regions],
        second=second,
        groups=frame["group"].astype(str).tolist(),
    )


def evaluate_segmentation_into(
    run: RunDirectory,
    card: TaskCard,
    cfg: DictConfig,
    module: SegmentationModule,
    datamodule: SegmentationDataModule,
    context: Mapping[str, str],
) -> dict:
    """Predict val and test, write metrics.json, predictions.csv (per test image), the
    probability maps (``maps/``), report.md and examples.png."""
    val, test = predict_masks(module, datamodule, "val"), predict_masks(module, datamodule, "test")
    metrics_cfg = cfg.metrics
    document = {
        "task": card.name,
        **evaluate_segmentation(
            val,
            test,
            ThresholdRule(metrics_cfg.threshold.method, metrics_cfg.threshold.value),
            BootstrapSpec(metrics_cfg.n_bootstrap, metrics_cfg.bootstrap_seed),
            quantify=card.quantification.measure,
            class_names=card.class_names,
            match_distance=card.quantification.match_distance_px,
            unit=str(cfg.data.get("unit") or "group"),
        ),
    }
    run.write_json("metrics.json", document)
    frame = datamodule.split_frame("test")
    per_image = pd.DataFrame({"image": frame["image"], **pd.DataFrame(document["per_image"])})
    per_image.to_csv(run.file("predictions.csv"), index=False)
    maps = run.path / "maps"
    maps.mkdir()
    for image, prob in zip(frame["image"], test.probabilities, strict=True):
        cv2.imwrite(str(maps / f"{Path(image).stem}.png"), np.rint(prob * 255).astype(np.uint8))
    write_reports(run, card, cfg, document, context, SegmentationHead())
    threshold = document["threshold"]["value"]
    images = datamodule.arrays["test"]["image"]
    plot_segmentation_examples(
        images[:3],
        test.truths[:3],
        [p >= threshold for p in test.probabilities[:3]],
        run.file("examples.png"),
        f"{card.name}: test images, manual vs predicted",
    )
    return document


class SegmentationHead(Head):
    name = "segmentation"
    module_class = SegmentationModule
    failure_mode = "Thin or faint structures and image borders are where masks fail first."

    def datamodule(self, cfg: DictConfig, card: TaskCard) -> SegmentationDataModule:
        return build_segmentation_datamodule(cfg, card)

    def module(self, cfg: DictConfig, card: TaskCard) -> SegmentationModule:
        return build_segmentation_module(cfg, card)

    def figures_table(self, document: Mapping) -> str:
        return segmentation_tables(document)

    def evaluate(self, run, card, cfg, module, datamodule, context) -> dict:
        return evaluate_segmentation_into(run, card, cfg, module, datamodule, context)
