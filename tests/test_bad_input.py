"""A user's own data, one defect at a time: each is refused before a run folder exists, with a
message naming the file and the fix, or (a failure once a run has started) leaves the folder
marked failed, refused by every command that reads results, and nothing else changed."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import medzoo
from medzoo.commands import user_errors
from medzoo.config import compose
from medzoo.data.coverage import CoverageWarning, check_coverage
from medzoo.data.images import MAX_PIXELS, ImageReadError, decode_problem, read_image
from medzoo.data.labels import Coverage
from medzoo.data.manifest import ManifestError, read_manifest
from medzoo.evaluate import run_evaluation
from medzoo.export import export_run
from medzoo.heads import build_datamodule
from medzoo.heads.classification.module import ClassificationModule
from medzoo.heads.detection.yolo import ultralytics
from medzoo.rundir import RunDirectory, RunStateError
from medzoo.tasks.card import card_of
from medzoo.train import run_training

CLASSES = ("benign", "malignant", "normal")  # the default task's card
TINY = [
    "data.image_size=32",
    "data.batch_size=8",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "metrics.n_bootstrap=50",
]


def _images(folder: Path, per_class: int = 8, fmt: str = "png") -> pd.DataFrame:
    """Distinct noise images whose brightness follows the class, as a user's folder might hold."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for k, label in enumerate(CLASSES):
        for i in range(per_class):
            pixels = rng.integers(0, 80, (48, 64, 3)) + 80 * k
            name = f"{label}_{i}.{fmt}"
            Image.fromarray(pixels.astype(np.uint8)).save(folder / name)
            rows.append({"image": name, "label": label})
    return pd.DataFrame(rows)


def _manifest(folder: Path, frame: pd.DataFrame, name: str = "manifest.csv") -> Path:
    frame.to_csv(folder / name, index=False)
    return folder / name


def _train_cfg(manifest: Path, out: Path, *extra: str):
    return compose(
        ["data=csv", f"data.params.manifest={manifest}", *TINY, f"output_dir={out}", *extra]
    )


def _tree(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` with its SHA-256: what 'nothing changed' is checked against."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


# 1. A truncated JPEG ----------------------------------------------------------------------


def test_a_truncated_jpeg_is_named_before_a_run_folder_exists(tmp_path: Path) -> None:
    frame = _images(tmp_path / "data", fmt="jpg")
    cut = tmp_path / "data" / frame["image"][3]
    whole = cut.read_bytes()
    cut.write_bytes(whole[: len(whole) * 3 // 4])
    with Image.open(cut) as img:
        img.verify()  # PIL's own check passes: only decoding to the last byte finds it
    manifest = _manifest(tmp_path / "data", frame)

    with pytest.raises(ManifestError) as err:
        run_training(_train_cfg(manifest, tmp_path / "out"))
    assert str(err.value) == (
        f"manifest {manifest} failed validation:\n1 file(s) cannot be decoded (re-export them or "
        f"remove their rows):\n  {cut} ({decode_problem(cut.read_bytes(), cut)[1]})"
    )
    assert "truncated" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_decoding_to_the_last_byte_finds_cut_files_of_every_format(tmp_path: Path) -> None:
    pixels = np.random.default_rng(1).integers(0, 255, (64, 64, 3)).astype(np.uint8)
    for fmt in ("JPEG", "PNG"):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, fmt)
        data = buffer.getvalue()
        assert decode_problem(data, "whole") is None
        kind, _ = decode_problem(data[: len(data) * 2 // 3], "cut")
        assert kind == "undecodable", fmt


def test_files_pil_cannot_identify_are_named_even_after_ultralytics_patched_pil(
    tmp_path: Path,
) -> None:
    ultralytics()  # medzoo's own import of it, which replaces PIL.Image.open

    notes = tmp_path / "notes.jpg"
    notes.write_text("text saved as .jpg")
    kind, detail = decode_problem(notes.read_bytes(), notes)
    assert kind == "undecodable" and "cannot identify image file" in detail
    with pytest.raises(ImageReadError, match=r"cannot read image .*notes\.jpg"):
        read_image(notes, 3)


# 2. A class with no images, a split with one class ---------------------------------------


def _split_frame(labels_per_split: dict[str, list[str]]) -> pd.DataFrame:
    rows = [
        {"image": f"{split}_{i}.png", "label": label, "split": split}
        for split, labels in labels_per_split.items()
        for i, label in enumerate(labels)
    ]
    return pd.DataFrame(rows)


def test_a_manifest_of_one_label_stops_before_training_with_counts_and_fix(
    tmp_path: Path,
) -> None:
    frame = _images(tmp_path / "data", per_class=12)
    frame["label"] = "benign"
    frame = frame.drop_duplicates("image")
    manifest = _manifest(tmp_path / "data", frame)
    with pytest.raises(ManifestError) as err:
        run_training(_train_cfg(manifest, tmp_path / "out"))
    message = str(err.value)
    assert message.startswith(
        f"manifest {manifest}: the figures this task reports cannot be computed on these "
        "splits:\n  the train split holds only 'benign': a model needs two classes\n"
    )
    assert "'malignant_vs_rest': the val split has no malignant images" in message
    table = message.split("images per split and class:\n")[1].splitlines()
    assert table[0].split() == list(CLASSES)
    counts = {line.split()[0]: [int(v) for v in line.split()[1:]] for line in table[1:4]}
    assert sum(counts[s][0] for s in counts) == len(frame)
    assert sum(sum(counts[s][1:]) for s in counts) == 0
    assert message.endswith("(task.class_names, task.class_groups)")
    assert "data.split.fractions" in message
    assert not (tmp_path / "out").exists()


def test_binary_views_need_both_sides_in_val_and_test() -> None:
    frame = _split_frame(
        {
            "train": ["benign", "malignant", "normal"] * 3,
            "val": ["benign", "malignant", "normal"],
            "test": ["benign", "normal", "normal"],  # no malignant: the group's AUC is undefined
        }
    )
    groups = {"malignant_vs_rest": ["malignant"]}
    with pytest.raises(
        ManifestError, match=r"'malignant_vs_rest': the test split has no malignant"
    ):
        check_coverage(frame, CLASSES, Coverage(views=groups, per_class=True), "m.csv")
    binary = frame[frame["label"] != "normal"]
    with pytest.raises(ManifestError, match=r"the test split holds only 'benign'"):
        views = {"malignant": ("malignant",)}
        check_coverage(binary, ("benign", "malignant"), Coverage(views=views), "m.csv")


MULTICLASS = Coverage(per_class=True)  # a multiclass head without class groups


def test_a_class_seen_only_in_val_or_test_stops_but_an_absent_class_only_nulls_figures() -> None:
    unseen = _split_frame(
        {
            "train": ["benign", "malignant"] * 3,
            "val": ["benign", "malignant", "normal"],
            "test": ["benign", "malignant", "normal"],
        }
    )
    with pytest.raises(ManifestError, match="class 'normal' has no training image"):
        check_coverage(unseen, CLASSES, MULTICLASS, "m.csv")

    subset = unseen[unseen["label"] != "normal"]  # a user's data without one of the classes
    with pytest.warns(CoverageWarning, match="these figures will be null") as caught:
        null = check_coverage(subset, CLASSES, MULTICLASS, "m.csv")
    assert null == ["class 'normal': its test recall and one-vs-rest AUC"]
    assert "normal" in str(caught[0].message)
    complete = unseen.assign(label=list(CLASSES) * (len(unseen) // len(CLASSES)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every class everywhere: nothing to say
        assert check_coverage(complete, CLASSES, MULTICLASS, "m.csv") == []


def test_multilabel_findings_absent_from_test_are_null_not_fatal() -> None:
    frame = _split_frame(
        {
            "train": ["a", "b", "a;b", ""] * 2,
            "val": ["a", "b", "", "a;b"],
            "test": ["a", "", "a", ""],  # 'b' absent from test: its figures are null
        }
    )
    with pytest.warns(CoverageWarning):
        null = check_coverage(frame, ("a", "b"), Coverage(multi_hot=True), "m.csv")
    assert null == ["label 'b': all its figures (no test image has it)"]
    with pytest.raises(ManifestError, match="no label has images with and without it"):
        check_coverage(frame.assign(label="a;b"), ("a", "b"), Coverage(multi_hot=True), "m.csv")


# 3. Paths that leave the data folder -----------------------------------------------------

ESCAPE = "../" * 16 + "etc/passwd"  # deep enough to reach / from any temporary folder


def test_a_path_out_of_the_manifests_folder_is_refused_naming_the_row(tmp_path: Path) -> None:
    data = tmp_path / "data"
    frame = _images(data)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    Image.new("RGB", (8, 8)).save(outside / "secret.png")
    (data / "link.png").symlink_to(outside / "secret.png")
    rows = pd.concat(
        [
            frame,
            pd.DataFrame({"image": [ESCAPE, "link.png"], "label": ["benign", "benign"]}),
        ],
        ignore_index=True,
    )
    manifest = _manifest(data, rows)
    with pytest.raises(ManifestError) as err:
        read_manifest(manifest)
    n = len(frame)
    assert str(err.value) == (
        f"manifest {manifest}: 2 path(s) lead outside {data} (symbolic links followed):\n"
        f"  row {n + 2}: image '{ESCAPE}' leads to /etc/passwd\n"
        f"  row {n + 3}: image 'link.png' leads to {outside / 'secret.png'}\n"
        "medzoo reads only files inside the manifest's folder or the data root; move the files "
        "there, or pass data.allow_outside_root=true if you trust this manifest"
    )

    with pytest.raises(ManifestError, match=r"leads to /etc/passwd"):
        run_training(_train_cfg(manifest, tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_allow_outside_root_and_the_data_root_let_files_elsewhere_in(tmp_path: Path) -> None:
    images = tmp_path / "images"
    frame = _images(images)
    lists = tmp_path / "lists"
    lists.mkdir()
    manifest = _manifest(lists, frame.assign(image="../images/" + frame["image"]))
    cfg = ["data=csv", f"data.params.manifest={manifest}", *TINY]
    with pytest.raises(ManifestError, match="lead outside"):
        c = compose(cfg)
        build_datamodule(c, card_of(c)).prepare_manifest()
    for extra in ("data.allow_outside_root=true", f"data.root={tmp_path}"):
        c = compose([*cfg, extra])
        prepared = build_datamodule(c, card_of(c)).prepare_manifest()
        assert sorted(prepared["image"]) == sorted(str(images / p) for p in frame["image"])


# 4. Huge images --------------------------------------------------------------------------


def test_an_image_beyond_the_pixel_limit_is_refused_without_being_decoded(tmp_path: Path) -> None:
    data = tmp_path / "data"
    frame = _images(data)
    Image.new("L", (12_000, 12_000)).save(data / "scan.png")  # 144 MP, 0.1 MB on disk
    manifest = _manifest(
        data, pd.concat([frame, pd.DataFrame([{"image": "scan.png", "label": "normal"}])])
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no decompression-bomb warning from PIL either
        with pytest.raises(ManifestError) as err:
            run_training(_train_cfg(manifest, tmp_path / "out"))
    assert str(err.value) == (
        f"manifest {manifest} failed validation:\n1 image(s) are too large to decode (save a "
        "downscaled copy (models here take a few hundred pixels) or raise "
        f"data.max_image_pixels):\n  {data / 'scan.png'} (12000 × 12000 (144 MP), above the "
        f"{MAX_PIXELS // 1_000_000} MP limit for decoding one image)"
    )
    assert not (tmp_path / "out").exists()


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_within_the_limit(tmp_path: Path) -> None:
    pixels = np.zeros((800, 1200, 3), np.uint8)
    pixels[:, 600:] = 200  # left half dark, right half bright
    Image.fromarray(pixels).save(tmp_path / "big.jpg", quality=95)
    Image.fromarray(pixels).save(tmp_path / "big.png")
    small = read_image(tmp_path / "big.jpg", 3, size=64, max_pixels=100_000)
    assert small.shape[0] * small.shape[1] <= 100_000
    assert small.shape[1] / small.shape[0] == pytest.approx(1.5, rel=0.02)
    assert (
        small[:, : small.shape[1] // 3].mean() < 20 < 180 < small[:, -small.shape[1] // 3 :].mean()
    )
    full = read_image(tmp_path / "big.jpg", 3, size=64)
    assert full.shape[:2] == (800, 1200)  # below the limit nothing changes
    with pytest.raises(ValueError, match=r"1200 × 800 \(1\.0 MP\), above the 0\.1 MP limit"):
        read_image(tmp_path / "big.png", 3, size=64, max_pixels=100_000)


# 5. Half-written runs --------------------------------------------------------------------


def _phantom(out: Path, *extra: str):
    return compose(
        [
            "data.params.n_per_class=24",
            "data.params.size=32",
            *TINY,
            f"output_dir={out}",
            *extra,
        ]
    )


def test_a_full_disk_and_ctrl_c_leave_failed_runs_that_commands_refuse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    earlier = run_training(_phantom(out))
    assert earlier.status()["state"] == "finished"
    before = _tree(out)

    # A full disk when the metrics are written.
    honest_write = RunDirectory.write_json

    def full_disk(self, name, document):
        if name == "metrics.json":
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path / name))
        return honest_write(self, name, document)

    monkeypatch.setattr(RunDirectory, "write_json", full_disk)
    with pytest.raises(SystemExit) as stopped, user_errors():
        run_training(_phantom(out))
    monkeypatch.undo()
    disk_run = RunDirectory(next(p for p in (out / "phantom_us").iterdir() if p != earlier.path))
    status = disk_run.status()
    assert status["state"] == "failed"
    written = disk_run.path / "metrics.json"
    assert status["error"] == f"OSError: [Errno 28] No space left on device: '{written}'"
    assert str(stopped.value.code) == (
        f"medzoo: no space left on the device writing {disk_run.path / 'metrics.json'}: free "
        "space or choose another folder (output_dir=...), then run again\n"
        f"{disk_run.path} is marked failed (status.json); continue it with python -m "
        f"medzoo.train resume={disk_run.path}"
    )
    assert {k: v for k, v in _tree(out).items() if k in before} == before

    # Ctrl-C in the second epoch, after the first epoch's checkpoint.
    honest_step = ClassificationModule.training_step

    def interrupted(self, batch, batch_idx):
        if self.current_epoch == 1:
            raise KeyboardInterrupt
        return honest_step(self, batch, batch_idx)

    monkeypatch.setattr(ClassificationModule, "training_step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_training(_phantom(out, "seed=1"))
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    stopped_runs = [
        p for p in (out / "phantom_us").iterdir() if p not in (earlier.path, disk_run.path)
    ]
    ctrl_c = RunDirectory(stopped_runs[0])
    assert ctrl_c.status()["state"] == "failed"
    assert ctrl_c.status()["error"] == "interrupted (Ctrl-C)"
    assert (ctrl_c.checkpoints / "last.ckpt").is_file() and not (
        ctrl_c.path / "metrics.json"
    ).exists()
    assert {k: v for k, v in _tree(out).items() if k in before} == before

    # Every command that reads results refuses both, naming the cause.
    for failed, cause in (
        (disk_run, "No space left on device"),
        (ctrl_c, r"interrupted \(Ctrl-C\)"),
    ):
        pattern = (
            rf"{failed.path} did not finish, so it has no results to use: it failed at .*{cause}"
        )
        with pytest.raises(RunStateError, match=pattern):
            run_evaluation(str(failed.path))
        with pytest.raises(RunStateError, match=pattern):
            medzoo.load(failed.path)
        with pytest.raises(RunStateError, match=pattern):
            export_run(failed.checkpoints / "last.ckpt", "onnx")

    # resume= still works where a checkpoint exists, and the status tells both attempts.
    resumed = run_training(compose([f"resume={ctrl_c.path}"]))
    final = resumed.status()
    assert final["state"] == "finished"
    assert final["earlier_attempts"][0]["error"] == "interrupted (Ctrl-C)"
    assert medzoo.load(ctrl_c.path).predict
    assert {k: v for k, v in _tree(out).items() if k in before} == before


# 6. Messages name the manifest -----------------------------------------------------------


def test_errors_name_the_manifest_not_the_data_root(tmp_path: Path) -> None:
    frame = _images(tmp_path / "data")
    manifest = _manifest(
        tmp_path / "data",
        pd.concat([frame, pd.DataFrame([{"image": "gone.png", "label": "benign"}])]),
    )
    with pytest.raises(ManifestError) as err:
        run_training(_train_cfg(manifest, tmp_path / "out"))
    assert str(err.value).startswith(f"manifest {manifest} failed validation:\n")
    assert "data recipe" not in str(err.value) and "(root " not in str(err.value)


# Every command: one `medzoo:` line, exit status 1, no traceback --------------------------


def _failed_run(base: Path) -> RunDirectory:
    """A run whose training stopped on a full disk, as RunDirectory records it."""
    run = RunDirectory.create(base, "phantom_us")
    with pytest.raises(OSError), run.attempt():
        run.write_config(_phantom(base))
        raise OSError(errno.ENOSPC, "No space left on device")
    return run


def test_every_command_ends_bad_input_in_one_medzoo_line(tmp_path: Path) -> None:
    frame = _images(tmp_path / "data", fmt="jpg")
    cut = tmp_path / "data" / frame["image"][0]
    cut.write_bytes(cut.read_bytes()[:200])
    manifest = _manifest(tmp_path / "data", frame)
    failed = _failed_run(tmp_path / "runs")
    commands = {
        "train": (["data=csv", f"data.params.manifest={manifest}"], str(cut)),
        "evaluate": ([f"run={failed.path}"], "did not finish"),
        "predict": ([f"run={failed.path}", f"input={tmp_path / 'data'}"], "did not finish"),
        "export": ([f"run={failed.path}"], "did not finish"),
        "explain": ([f"run={failed.path}", f"input={cut}"], "did not finish"),
        "evaluate_clips": ([f"run={failed.path}"], "did not finish"),
        "publish": ([f"run={failed.path}", f"out={tmp_path / 'release'}"], "did not finish"),
        "experiment": (["name=no_such_experiment"], "no_such_experiment"),
        "reproduce": (["table=Z9"], "Z9"),
        "anonymize": (
            [
                f"input={tmp_path / 'absent'}",
                f"output={tmp_path / 'o'}",
                f"linkage={tmp_path / 'l.csv'}",
            ],
            "absent",
        ),
    }
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-m", f"medzoo.{name}", *args, f"output_dir={tmp_path / 'out'}"]
            if name == "train"
            else [sys.executable, "-m", f"medzoo.{name}", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tmp_path,
        )
        for name, (args, _) in commands.items()
    }
    for name, process in processes.items():
        stdout, stderr = process.communicate(timeout=600)
        named = commands[name][1]
        lines = [line for line in stderr.splitlines() if line.startswith("medzoo: ")]
        assert process.returncode == 1, (name, stderr[-2000:])
        assert "Traceback" not in stderr + stdout, (name, stderr[-2000:])
        assert len(lines) == 1, (name, stderr[-2000:])
        assert named in stderr[stderr.index("medzoo: ") :], (name, stderr[-2000:])
    assert not (tmp_path / "out").exists()
    assert json.loads((failed.path / "status.json").read_text())["state"] == "failed"
