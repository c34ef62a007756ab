"""The trained two-stage pipeline as one object: frame in, kept boxes out, time per stage."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from medzoo.heads.detection.verifier import Verifier, verified
from medzoo.heads.detection.yolo import YoloDetector
from medzoo.metrics.detection import Detections
from medzoo.predictor import Predictor
from medzoo.rundir import RunDirectory


@dataclass
class FrameResult:
    """A frame's detector proposals above the detector threshold, the verifier's lesion
    probability for each, and the boxes the pipeline reports."""

    proposals: Detections
    lesion_probability: np.ndarray
    kept: Detections


def proposal_records(found: Detections, lesion_probability: np.ndarray) -> list[dict]:
    """One row per proposal: its box, detector score and verifier lesion probability."""
    return [
        {
            "x1": box[0],
            "y1": box[1],
            "x2": box[2],
            "y2": box[3],
            "detector_score": score,
            "verifier_score": probability,
        }
        for box, score, probability in zip(
            found.boxes, found.scores, lesion_probability, strict=True
        )
    ]


@dataclass
class StageTimes:
    detector_s: float = 0.0
    verifier_s: float = 0.0
    frames: int = 0
    per_frame: list[float] = field(default_factory=list)


class TwoStagePipeline:
    """Detector, then (optionally) verifier, at the thresholds chosen on validation."""

    def __init__(
        self,
        detector: YoloDetector,
        verifier: Verifier | None,
        detector_threshold: float,
        verifier_threshold: float,
        thresholds: Mapping[str, float] | None = None,
    ) -> None:
        self.detector, self.verifier = detector, verifier
        self.detector_threshold, self.verifier_threshold = detector_threshold, verifier_threshold
        # Every threshold the run chose on validation (detector alone and with the verifier).
        self.thresholds = dict(thresholds or {})
        self.times = StageTimes()

    @classmethod
    def from_run(cls, target: str | Path, use_verifier: bool = True) -> TwoStagePipeline:
        run = RunDirectory.open(target)
        cfg, thresholds = run.read_config(), run.read_json("metrics.json")["thresholds"]
        det = cfg.head.detector
        detector = YoloDetector(
            run.checkpoints / "detector.pt", det.image_size, det.floor, det.max_boxes
        )
        if not use_verifier:
            return cls(detector, None, thresholds["detector_alone"], 0.0, thresholds)
        from medzoo.heads import load_module  # the registry imports this module

        predictor = Predictor(load_module(run.checkpoints / "verifier.ckpt"))
        return cls(
            detector,
            Verifier(predictor, cfg.head.verifier.context),
            thresholds["detector_with_verifier"],
            thresholds["verifier"],
            thresholds,
        )

    def __call__(self, frame: np.ndarray) -> FrameResult:
        started = time.perf_counter()
        proposals = self.detector([frame])[0].above(self.detector_threshold)
        detected = time.perf_counter()
        if self.verifier is None:
            probability = np.ones(len(proposals.scores))
            kept = proposals
        else:
            probability = self.verifier(frame, proposals)
            kept = verified(proposals, probability, self.verifier_threshold)
        done = time.perf_counter()
        self.times.detector_s += detected - started
        self.times.verifier_s += done - detected
        self.times.frames += 1
        self.times.per_frame.append(done - started)
        return FrameResult(proposals, probability, kept)
