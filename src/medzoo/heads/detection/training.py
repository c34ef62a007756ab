"""The detection head (``python -m medzoo.train task=us_detect``): train the detector, then the
verifier on crops, choose both operating thresholds on validation images, report test figures.

Run directory: ``config.yaml``, ``manifest.csv`` (images, boxes, splits), ``yolo_data/`` (the
detector's dataset, links only), ``detector/`` (ultralytics' own log), ``checkpoints/``
(``detector.pt``, ``verifier.ckpt``), ``detections.csv`` (every proposal on val and test with
both scores), ``metrics.json`` and ``report.md``.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader

from medzoo.data.boxes import parse_boxes
from medzoo.data.datamodule import ArrayDataset, ManifestDataModule
from medzoo.data.images import MAX_PIXELS, read_image
from medzoo.data.labels import LabelCoding
from medzoo.data.manifest import ManifestError
from medzoo.data.transforms import build_augmentation
from medzoo.environment import machine_description
from medzoo.heads.base import Head, PreparedManifest, backbone_settings
from medzoo.heads.classification import manifest_datamodule
from medzoo.heads.classification.module import ClassificationModule
from medzoo.heads.detection.inference import TwoStagePipeline, proposal_records
from medzoo.heads.detection.verifier import VERIFIER_CLASSES, Verifier, training_crops, two_stage
from medzoo.heads.detection.yolo import YoloDetector, train_yolo, write_yolo_dataset
from medzoo.metrics.bootstrap import resampling
from medzoo.metrics.detection import (
    Detections,
    average_precision,
    choose_score_threshold,
    counts,
    detection_block,
    persistent_by_sequence,
    recall_precision_f1,
    sequence_detection,
)
from medzoo.predictor import Predictor
from medzoo.reporting.model_card import write_reports
from medzoo.reporting.report import detection_table
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import TaskCard

log = logging.getLogger("medzoo.train")

SPLITS = ("train", "val", "test")
SEQUENCE_K = (1, 3)  # a sequence's lesion is found when detected in at least k of its frames
PERSISTENCE = (3, 5)  # on sequences: a box is kept when seen in 3 of the last 5 frames


def choose_two_stage_thresholds(
    proposals: Sequence[Detections],
    lesion_probability: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    iou: float,
    grid: int = 25,
) -> tuple[float, float]:
    """The (detector, verifier) thresholds with the best pooled F1 on these images; a grid of
    score quantiles for each, ties going to the lowest thresholds."""
    det = np.concatenate([p.scores for p in proposals] or [np.zeros(0)])
    ver = np.concatenate(list(lesion_probability) or [np.zeros(0)])
    if not len(det):
        return 0.5, 0.5
    det_grid = np.unique(np.quantile(det, np.linspace(0, 1, grid)))
    ver_grid = np.unique(np.concatenate([[0.0], np.quantile(ver, np.linspace(0, 1, grid))]))
    best, best_f1 = (float(det_grid[0]), 0.0), -1.0
    for det_t in det_grid:
        for ver_t in ver_grid:
            kept = [
                two_stage(p, v, det_t, ver_t)
                for p, v in zip(proposals, lesion_probability, strict=True)
            ]
            f1 = recall_precision_f1(counts(kept, truths, iou))["f1"]
            if not np.isnan(f1) and f1 > best_f1:
                best, best_f1 = (float(det_t), float(ver_t)), f1
    return best


def _train_verifier(
    cfg: DictConfig,
    run: RunDirectory,
    crops: Mapping[str, tuple[np.ndarray, np.ndarray]],
) -> ClassificationModule:
    module = ClassificationModule(
        head="binary",
        class_names=list(VERIFIER_CLASSES),
        task=f"{cfg.task.name}_verifier",
        **backbone_settings(cfg),
    )
    augment = build_augmentation(OmegaConf.to_container(cfg.data.augment or [], resolve=True))
    train = ArrayDataset(*crops["train"], augment)
    val = ArrayDataset(*crops["val"])
    checkpoint = ModelCheckpoint(
        dirpath=run.checkpoints, filename="verifier", monitor=module.monitor, mode="max"
    )
    trainer = L.Trainer(
        **OmegaConf.to_container(cfg.trainer, resolve=True),
        default_root_dir=run.path,
        logger=CSVLogger(run.path, name="logs", version="verifier"),
        callbacks=[checkpoint],
    )
    trainer.fit(
        module,
        DataLoader(train, batch_size=cfg.data.batch_size, shuffle=True),
        DataLoader(val, batch_size=cfg.data.eval_batch_size),
    )
    from medzoo.heads import load_module  # the registry imports this module

    return load_module(checkpoint.best_model_path)


def _detections_frame(
    frame: pd.DataFrame, proposals: Sequence[Detections], lesion_probability: Sequence[np.ndarray]
) -> pd.DataFrame:
    rows = [
        {"split": row["split"], "image": row["image"], **record}
        for (_, row), found, prob in zip(
            frame.iterrows(), proposals, lesion_probability, strict=True
        )
        for record in proposal_records(found, prob)
    ]
    return pd.DataFrame(rows)


def _stage_figures(
    kept: Sequence[Detections],
    ranked: Sequence[Detections],
    truths: Sequence[np.ndarray],
    iou: float,
    boot: Mapping,
    units: np.ndarray | None = None,
) -> dict:
    block = detection_block(kept, truths, iou, boot["n"], boot["seed"], units)
    block["ap"] = average_precision(ranked, truths, iou)
    return block


def _found_in_sequences(
    kept: Sequence[Detections], truths: Sequence[np.ndarray], groups: np.ndarray, iou: float, boot
) -> dict:
    """Whether each sequence's lesion is found in at least k of its frames (k = 1, 3)."""
    return {
        f"k{k}": sequence_detection(kept, truths, groups, iou, k, boot["n"], boot["seed"])
        for k in SEQUENCE_K
    }


def detection_document(
    card: TaskCard,
    proposals: Mapping[str, Sequence[Detections]],
    lesion: Mapping[str, Sequence[np.ndarray]],
    truths: Mapping[str, Sequence[np.ndarray]],
    iou: float,
    boot: Mapping,
    thresholds: Mapping[str, float] | None = None,
    test_groups: Sequence[str] | None = None,
    unit: str = "group",
) -> dict:
    """Both pipeline rows on val and test at thresholds chosen on the val proposals, or at
    the given ``thresholds`` (a trained run's, for a re-evaluation that must not re-choose
    them). Where ``test_groups`` repeat (frames of video sequences, named ``unit``), test CIs
    resample groups, and ``by_sequence`` says in how many sequences the lesion is found."""
    if thresholds is None:
        det_alone = choose_score_threshold(proposals["val"], truths["val"], iou)
        det_two, ver_two = choose_two_stage_thresholds(
            proposals["val"], lesion["val"], truths["val"], iou
        )
    else:
        det_alone = float(thresholds["detector_alone"])
        det_two = float(thresholds["detector_with_verifier"])
        ver_two = float(thresholds["verifier"])
    document: dict = {
        "task": card.name,
        "head": "detection",
        "class_names": ["lesion"],
        "iou": iou,
        "bootstrap": dict(boot),
        "thresholds": {
            "chosen_on": "val",
            "rule": "best pooled F1",
            "detector_alone": det_alone,
            "detector_with_verifier": det_two,
            "verifier": ver_two,
        },
    }
    groups = None if test_groups is None else np.asarray(test_groups, dtype=str)
    drawn = resampling(len(groups), groups) if groups is not None else None
    if drawn is not None and drawn.clusters:
        document["bootstrap"].update(unit=unit, n_units=drawn.units)
    else:
        groups = None
    for split in ("val", "test"):
        found, prob = proposals[split], lesion[split]
        alone = [p.above(det_alone) for p in found]
        both = [two_stage(p, v, det_two, ver_two) for p, v in zip(found, prob, strict=True)]
        ranked_both = [Detections(p.boxes, p.scores * v) for p, v in zip(found, prob, strict=True)]
        units = groups if split == "test" else None
        figures = {
            "detector_alone": _stage_figures(alone, found, truths[split], iou, boot, units),
            "detector_verifier": _stage_figures(both, ranked_both, truths[split], iou, boot, units),
        }
        if split == "test":
            document.update(figures)
            document["n"] = len(truths[split])
            if groups is not None:
                # Frames in manifest order within each sequence, as a video would play them.
                steady = persistent_by_sequence(both, groups, *PERSISTENCE)
                document["detector_verifier_persistent"] = _stage_figures(
                    steady,
                    steady,
                    truths[split],
                    iou,
                    boot,
                    units,  # AP of what it keeps
                )
                document["persistence"] = {"k": PERSISTENCE[0], "n": PERSISTENCE[1]}
                stages = {"detector_alone": alone, "detector_verifier": both}
                stages["detector_verifier_persistent"] = steady
                document["by_sequence"] = {
                    key: _found_in_sequences(kept, truths[split], groups, iou, boot)
                    for key, kept in stages.items()
                }
        else:
            document["val"] = figures
    return document


def read_split_images(
    frame: pd.DataFrame, cfg: DictConfig, splits: Sequence[str]
) -> tuple[dict, dict, dict]:
    """Each split's rows, images and true boxes."""
    parts = {s: frame[frame["split"] == s].reset_index(drop=True) for s in splits}
    limit = cfg.data.get("max_image_pixels") or MAX_PIXELS
    images = {
        s: [read_image(p, cfg.data.channels, max_pixels=limit) for p in parts[s]["image"]]
        for s in splits
    }
    truths = {
        s: [parse_boxes(c, p) for c, p in zip(parts[s]["boxes"], parts[s]["image"], strict=True)]
        for s in splits
    }
    return parts, images, truths


def score_splits(
    card: TaskCard,
    cfg: DictConfig,
    parts: Mapping[str, pd.DataFrame],
    images: Mapping[str, Sequence[np.ndarray]],
    truths: Mapping[str, Sequence[np.ndarray]],
    proposals: Mapping[str, Sequence[Detections]],
    verifier: Callable[[np.ndarray, Detections], np.ndarray],
    thresholds: Mapping[str, float] | None = None,
) -> tuple[dict, dict[str, list[np.ndarray]]]:
    """The verifier's lesion score of every val and test proposal, and the detection document
    at ``thresholds`` (None: chosen on val); returns both."""
    lesion = {
        s: [verifier(image, found) for image, found in zip(images[s], proposals[s], strict=True)]
        for s in ("val", "test")
    }
    boot = {"n": int(cfg.metrics.n_bootstrap), "seed": int(cfg.metrics.bootstrap_seed)}
    document = detection_document(
        card,
        proposals,
        lesion,
        truths,
        float(cfg.head.iou),
        boot,
        thresholds=thresholds,
        test_groups=parts["test"]["group"].tolist(),
        unit=str(cfg.data.get("unit") or "group"),
    )
    return document, lesion


def write_scores(
    run: RunDirectory,
    document: Mapping,
    parts: Mapping[str, pd.DataFrame],
    proposals: Mapping[str, Sequence[Detections]],
    lesion: Mapping[str, Sequence[np.ndarray]],
) -> None:
    """``metrics.json`` and ``detections.csv`` (every val and test proposal with its scores)."""
    run.write_json("metrics.json", document)
    table = pd.concat(
        [_detections_frame(parts[s], proposals[s], lesion[s]) for s in ("val", "test")]
    )
    table.to_csv(run.file("detections.csv"), index=False)


def evaluate_two_stage(
    out: RunDirectory,
    card: TaskCard,
    cfg: DictConfig,
    pipeline: TwoStagePipeline,
    prepared: PreparedManifest,
    context: Mapping[str, str],
) -> dict:
    """A trained run's detector and verifier on its val and test images, at the run's own
    thresholds (never re-chosen: the test may be another site's)."""
    parts, images, truths = read_split_images(prepared.manifest, cfg, ("val", "test"))
    proposals = {s: pipeline.detector(images[s]) for s in ("val", "test")}
    document, lesion = score_splits(
        card, cfg, parts, images, truths, proposals, pipeline.verifier, pipeline.thresholds
    )
    write_scores(out, document, parts, proposals, lesion)
    write_reports(out, card, cfg, document, context, DetectionHead())
    return document


class DetectionHead(Head):
    name = "detection"
    without_checkpoint = (
        "its models are detector.pt + verifier.ckpt: load them with "
        "medzoo.heads.detection.inference.TwoStagePipeline.from_run, or run "
        "python -m medzoo.predict run=<run> input=<video or frames>"
    )
    resumable = False  # the detector and the verifier each train in one call
    streams = "boxes"
    clips = "boxes"
    failure_mode = (
        "Trained on still images: on video, recall per frame drops (motion blur, partial "
        "views); thresholds for video should be chosen on video."
    )

    def datamodule(self, cfg: DictConfig, card: TaskCard) -> ManifestDataModule:
        """The image manifest with its boxes column (class labels as plain indices)."""
        return manifest_datamodule(cfg, card, LabelCoding())

    def prepare(self, cfg: DictConfig, card: TaskCard) -> PreparedManifest:
        frame = self.datamodule(cfg, card).prepare_manifest()
        if "boxes" not in frame.columns:
            raise ManifestError(
                f"task {card.name!r}: data recipe {cfg.data.recipe!r} gives no 'boxes' column; "
                "use a detection data config (e.g. data=busi_boxes) or a CSV with an "
                "image,label,boxes header"
            )
        return PreparedManifest(frame)

    def figures_table(self, document: Mapping) -> str:
        return detection_table(document)

    def fit(self, cfg, card, run, prepared, command, resume_from=None) -> dict:
        return fit_two_stage(cfg, card, run, prepared.manifest, command)

    def trained(self, run: RunDirectory, checkpoint: Path | None = None) -> TwoStagePipeline:
        return TwoStagePipeline.from_run(run.path)

    def evaluate(self, run, card, cfg, module, datamodule, context) -> dict:
        return evaluate_two_stage(run, card, cfg, module, datamodule, context)

    def preprocessing(self, card: TaskCard, cfg: DictConfig) -> dict[str, object]:
        return {
            "kind": "detector",
            "detector_image_size": int(cfg.head.detector.image_size),
            "verifier_crop_size": int(cfg.data.image_size),
            "verifier_context": float(cfg.head.verifier.context),
            "channels": int(cfg.data.channels),
        }


def fit_two_stage(
    cfg: DictConfig, card: TaskCard, run: RunDirectory, frame: pd.DataFrame, command: str
) -> dict:
    """Detector, crops, verifier, thresholds on val and every file of the run; returns the
    metrics document."""
    started = time.perf_counter()
    det = cfg.head.detector
    spec = write_yolo_dataset(frame, run.path / "yolo_data")
    weights = train_yolo(
        spec,
        det.model,
        det.epochs,
        det.image_size,
        det.batch,
        cfg.seed,
        run.path / "detector",
        patience=det.patience,
        frozen_layers=det.frozen_layers,
    )
    detector = YoloDetector(weights, det.image_size, det.floor, det.max_boxes)
    parts, images, truths = read_split_images(frame, cfg, SPLITS)
    proposals = {s: detector(images[s]) for s in SPLITS}
    ver = cfg.head.verifier
    crops = {
        s: training_crops(
            images[s],
            truths[s],
            proposals[s],
            cfg.data.image_size,
            cfg.seed + k,
            ver.jitter_copies,
            ver.background_per_image,
            ver.context,
        )
        for k, s in enumerate(("train", "val"))
    }
    log.info(
        "verifier crops: %s",
        {s: np.bincount(y, minlength=2).tolist() for s, (_, y) in crops.items()},
    )
    verifier = Verifier(Predictor(_train_verifier(cfg, run, crops)), ver.context)
    document, lesion = score_splits(card, cfg, parts, images, truths, proposals, verifier)
    thresholds = document["thresholds"]
    document["verifier_crops"] = {
        s: {"lesion": int((y == 1).sum()), "background": int((y == 0).sum())}
        for s, (_, y) in crops.items()
    }
    shutil.copy(weights, run.checkpoints / "detector.pt")
    write_scores(run, document, parts, proposals, lesion)
    context = {
        "command": command or f"python -m medzoo.train task={card.name}",
        "machine": machine_description(),
        "training wall time": f"{time.perf_counter() - started:.0f} s",
        "detector": f"{det.model} from scratch, {det.image_size} px, {det.epochs} epochs",
        "verifier": f"{cfg.model.backbone}, {cfg.data.image_size} px crops",
        "thresholds (chosen on validation, best F1)": (
            f"detector alone {thresholds['detector_alone']:.3f}; with verifier: detector "
            f"{thresholds['detector_with_verifier']:.3f}, verifier {thresholds['verifier']:.3f}"
        ),
    }
    write_reports(run, card, cfg, document, context, DetectionHead())
    return document
