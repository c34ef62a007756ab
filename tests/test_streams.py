"""Frame streams: the one reader for videos and frame folders, clips animated from stills
(boxes follow the image), k-of-n persistence, window integration, and classification runs
predicting and integrating over a clip."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from medzoo.commands import UsageError
from medzoo.config import compose
from medzoo.metrics.detection import Detections, PersistenceFilter, box_iou, persistent
from medzoo.train import run_training
from medzoo.video.clips import animate
from medzoo.video.stream import FrameStream, write_video
from medzoo.video.temporal import Decision, integrate_windows, parse_persistence, parse_window

BOX = np.array([[10.0, 10.0, 30.0, 30.0]])


def _at(box: np.ndarray | None) -> Detections:
    return Detections.empty() if box is None else Detections(box, [0.9])


def test_persistence_needs_k_of_the_last_n_frames() -> None:
    far = BOX + 200
    sequence = [_at(BOX), _at(BOX), _at(None), _at(BOX), _at(far), _at(BOX)]
    kept = [len(d.scores) for d in persistent(sequence, k=2, n=3)]
    assert kept == [0, 1, 0, 1, 0, 1]
    # frame 0 has no past; frame 4's far box has no support in frames 2-3; frame 5's box has
    # frame 3 within the last three
    assert [len(d.scores) for d in persistent(sequence, k=1, n=1)] == [1, 1, 0, 1, 1, 1]


def test_persistence_only_keeps_boxes_it_was_given() -> None:
    keep = PersistenceFilter(2, 4)
    for _ in range(3):
        out = keep(_at(BOX))
    assert np.array_equal(out.boxes, BOX)
    with pytest.raises(ValueError):
        PersistenceFilter(4, 3)
    with pytest.raises(ValueError):
        parse_persistence("3")
    assert parse_persistence("3/5") == (3, 5)


def test_windows_integrate_by_mean_and_by_vote() -> None:
    times = np.array([0.0, 0.5, 1.0, 1.5, 2.0])
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.45, 0.55], [0.2, 0.8], [0.3, 0.7]])
    mean = integrate_windows(times, probs, 2.0, "mean")
    assert [w.frames.tolist() for w in mean] == [[0, 1, 2, 3], [4]]
    assert np.allclose(mean[0].probabilities, [0.4875, 0.5125]) and mean[0].decision == 1
    vote = integrate_windows(times, probs, 2.0, "vote")
    assert np.allclose(vote[0].probabilities, [0.25, 0.75])
    assert (vote[1].start_s, vote[1].end_s) == (2.0, 4.0)
    assert parse_window("10s") == 10.0 and parse_window(2) == 2.0
    for bad in ("0s", "ten"):
        with pytest.raises(ValueError):
            parse_window(bad)
    with pytest.raises(ValueError):
        integrate_windows(times, probs, 2.0, "median")


def test_windows_decide_as_the_run_decided_its_test_split() -> None:
    times = np.array([0.0, 0.5, 1.0, 1.5])
    probs = np.array([[0.9, 0.1], [0.7, 0.3], [0.75, 0.25], [0.2, 0.8]])
    binary = Decision.of_run({"head": "binary", "threshold": {"value": 0.28, "method": "youden"}})
    np.testing.assert_array_equal(binary(probs), (probs[:, 1] >= 0.28).astype(int))
    # 0.5 would call the mean (0.3625) and three of four frames negative; the run's threshold
    # calls the mean and two of four positive (a tie: the lower class)
    assert integrate_windows(times, probs, 2.0, "mean")[0].decision == 0
    assert integrate_windows(times, probs, 2.0, "mean", binary)[0].decision == 1
    vote = integrate_windows(times, probs, 2.0, "vote", binary)[0]
    assert np.allclose(vote.probabilities, [0.5, 0.5]) and vote.decision == 0
    names = ["common", "rare", "other"]
    document = {
        "head": "multiclass",
        "class_names": names,
        "decision": {"method": "prior", "divisors": {"rare": 0.1, "common": 0.8, "other": 0.1}},
    }
    prior = Decision.of_run(document)
    three = np.array([[0.6, 0.3, 0.1], [0.7, 0.05, 0.25]])
    np.testing.assert_array_equal(prior(three), (three / [0.8, 0.1, 0.1]).argmax(1))
    assert prior(three).tolist() == [1, 2] and Decision()(three).tolist() == [0, 0]
    plain = {"head": "multiclass", "class_names": names, "decision": {"method": "argmax"}}
    assert Decision.of_run(plain) == Decision() and Decision.of_run({}) == Decision()


def test_clip_boxes_follow_the_lesion() -> None:
    still = np.full((96, 128), 60, dtype=np.uint8)
    still[30:50, 40:70] = 250
    clip = animate(still, 12, seed=3, style="ultrasound", boxes=[[40, 30, 70, 50]])
    assert len(clip.frames) == 12 and clip.frames[0].shape == still.shape
    for frame, boxes in zip(clip.frames, clip.boxes, strict=True):
        smooth = cv2.GaussianBlur(frame, (5, 5), 0)
        ys, xs = np.nonzero(smooth > 160)
        seen = np.array([[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]])
        assert box_iou(boxes, seen)[0, 0] > 0.6
    again = animate(still, 12, seed=3, style="ultrasound", boxes=[[40, 30, 70, 50]])
    assert all(np.array_equal(a, b) for a, b in zip(clip.frames, again.frames, strict=True))
    handheld = animate(np.dstack([still] * 3), 4, seed=0, style="handheld")
    assert handheld.frames[0].shape == (96, 128, 3)
    with pytest.raises(ValueError):
        animate(still, 4, seed=0, style="cinema")


def test_video_and_folder_streams(tmp_path: Path) -> None:
    frames = [np.full((32, 48, 3), 20 * k, dtype=np.uint8) for k in range(6)]
    video = write_video(tmp_path / "clip.mp4", frames, fps=5)
    stream = FrameStream(video)
    read = list(stream)
    assert stream.fps == pytest.approx(5) and len(read) == 6
    assert read[3].time_s == pytest.approx(0.6) and read[3].image.shape == (32, 48, 3)
    assert abs(int(read[3].image.mean()) - 60) <= 3
    with pytest.raises(FileExistsError):
        write_video(video, frames, fps=5)
    with pytest.raises(ValueError, match="one size"):
        write_video(tmp_path / "mixed.mp4", [frames[0], frames[0][:16]], fps=5)
    folder = tmp_path / "frames"
    folder.mkdir()
    for k, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"{k:03d}.png"), frame)
    listed = list(FrameStream(folder, fps=2))
    assert [f.name for f in listed] == [f"{k:03d}.png" for k in range(6)]
    assert listed[-1].time_s == pytest.approx(2.5)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(UsageError):
        FrameStream(tmp_path / "notes.txt")


@pytest.fixture(scope="module")
def phantom_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    overrides = [
        "data.params.n_per_class=100",
        "data.params.size=48",
        "data.image_size=48",
        "trainer.max_epochs=4",
        "trainer.enable_progress_bar=false",
        "metrics.n_bootstrap=100",
        f"output_dir={tmp_path_factory.mktemp('stream')}",
    ]
    return run_training(compose(overrides)).path


def test_classification_clips_integrate_windows(phantom_run: Path) -> None:
    from medzoo.evaluate_clips import evaluate_clips
    from medzoo.video.predict import run_stream

    cfg = compose(
        ["run=" + str(phantom_run), "clips=3", "seconds=4", "integrate=2s", "n_bootstrap=100"],
        config_name="evaluate_clips",
    )
    clip_run = evaluate_clips(cfg)
    document = json.loads((clip_run.path / "metrics.json").read_text())
    assert document["single_frame"]["n"] == 3 * 40
    assert document["window_mean"]["n"] == 3 * 2
    # the phantom's run decides by the plain argmax (metrics.decision's default): so do its clips
    assert json.loads((phantom_run / "metrics.json").read_text())["decision"]["method"] == "argmax"
    assert document["decision"] == {"rule": "argmax"}
    digest = hashlib.sha256((phantom_run / "metrics.json").read_bytes()).hexdigest()
    out = run_stream(str(phantom_run), str(clip_run.path / "example.mp4"), integrate="2s")
    windows = pd.read_csv(out.path / "windows.csv")
    frames = pd.read_csv(out.path / "frames.csv")
    assert len(frames) == 40 and windows["frames"].tolist() == [20, 20]
    first = frames[frames["time_s"] < 2.0].filter(like="prob_").mean()
    assert np.allclose(windows.filter(like="prob_").iloc[0], first, atol=1e-6)
    assert hashlib.sha256((phantom_run / "metrics.json").read_bytes()).hexdigest() == digest
    before = sorted((phantom_run / "predictions").iterdir())
    with pytest.raises(UsageError, match="detection runs"):
        run_stream(str(phantom_run), str(clip_run.path / "example.mp4"), persist="2/3")
    with pytest.raises(UsageError, match="integrate"):
        run_stream(str(phantom_run), str(clip_run.path / "example.mp4"), integrate="soon")
    assert sorted((phantom_run / "predictions").iterdir()) == before
