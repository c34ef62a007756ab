"""Releases: a run published as a Hub-style folder loads back, by folder, by ``hf-hub:`` from
the Hugging Face cache offline and by task name from the local zoo, with the run's own
probabilities; a changed file is refused."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

import medzoo
from medzoo.publish import main as publish_main
from medzoo.publish import publish
from medzoo.releases import FILES, SUMS, ReleaseError, list_models, load
from medzoo.reporting.report import lookup
from medzoo.rundir import RunStateError


@pytest.fixture()
def run_dir(phantom_run: Path) -> Path:
    return phantom_run


@pytest.fixture()
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, size=(40, 48, 3), dtype=np.uint8) for _ in range(4)]


@pytest.fixture()
def release(run_dir: Path, tmp_path: Path) -> Path:
    return publish(run_dir, tmp_path / "release")


def test_a_release_is_a_hub_folder_whose_files_match_their_sums(
    release: Path, run_dir: Path
) -> None:
    assert sorted(p.name for p in release.iterdir()) == sorted([*FILES, SUMS])
    for line in (release / SUMS).read_text().splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((release / name).read_bytes()).hexdigest() == digest
    config = json.loads((release / "config.json").read_text())
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert json.loads((release / "metrics.json").read_text()) == metrics
    assert config["task"] == metrics["task"] and config["class_names"] == metrics["class_names"]
    front = yaml.safe_load((release / "README.md").read_text().split("---\n")[1])
    assert {"license", "tags", "datasets", "base_model", "model-index"} <= set(front)
    (result,) = front["model-index"][0]["results"]
    figures = {m["type"]: m["value"] for m in result["metrics"]}
    assert figures and all(
        value == round(lookup(metrics, path)["value"], 4) for path, value in figures.items()
    )
    assert config["headline"]["value"] == lookup(metrics, config["headline"]["metric"])["value"]


def test_a_release_loads_back_with_the_runs_probabilities(
    release: Path, run_dir: Path, images: list[np.ndarray]
) -> None:
    expected = np.asarray(medzoo.load(run_dir).predict(images))
    np.testing.assert_array_equal(np.asarray(load(release).predict(images)), expected)
    np.testing.assert_array_equal(np.asarray(load(run_dir).predict(images)), expected)


def test_a_changed_or_missing_file_is_refused_by_name(release: Path) -> None:
    weights = release / "model.safetensors"
    original = weights.read_bytes()
    data = bytearray(original)
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ReleaseError, match=r"model\.safetensors does not match its SHA256SUMS"):
        load(release)
    weights.write_bytes(original)
    load(release)
    (release / "metrics.json").unlink()
    with pytest.raises(ReleaseError, match=r"metrics\.json is missing"):
        load(release)


def test_hub_releases_load_offline_from_the_cache(
    release: Path,
    run_dir: Path,
    images: list[np.ndarray],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "models--medzoo--phantom-us"
    shutil.copytree(release, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    expected = np.asarray(medzoo.load(run_dir).predict(images))
    for source in ("hf-hub:medzoo/phantom-us", f"hf-hub:medzoo/phantom-us@{commit}"):
        np.testing.assert_array_equal(np.asarray(load(source).predict(images)), expected)
    with pytest.raises(ReleaseError, match="hf-hub:medzoo/absent is not in the Hugging Face cache"):
        load("hf-hub:medzoo/absent")
    with pytest.raises(ReleaseError, match="hf-hub:<org>/<name>"):
        load("hf-hub:no-slash")


def test_the_local_zoo_lists_and_loads_by_task_name(
    run_dir: Path, images: list[np.ndarray], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEDZOO_HOME", str(tmp_path / "home"))
    task = json.loads((run_dir / "metrics.json").read_text())["task"]
    with pytest.raises(ReleaseError, match=r"no task in the local zoo .*there: none"):
        load(task)
    entry = publish(run_dir, zoo=True)
    assert entry == tmp_path / "home" / "zoo" / task
    publish(run_dir, zoo=True)  # a second release replaces the first, which is kept beside it
    assert (entry.parent / f"{task}.previous" / SUMS).is_file()
    (listed,) = list_models()
    assert listed["task"] == task and listed["headline"]["text"]
    expected = np.asarray(medzoo.load(run_dir).predict(images))
    np.testing.assert_array_equal(np.asarray(load(task).predict(images)), expected)


def test_runs_that_cannot_be_released_are_refused(run_dir: Path, tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("earlier work")
    with pytest.raises(ReleaseError, match="exists and is not empty"):
        publish(run_dir, taken)
    assert (taken / "keep.txt").read_text() == "earlier work"
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    later = time.time() + 60
    for checkpoint in (copy / "checkpoints").glob("*.ckpt"):
        os.utime(checkpoint, (later, later))
    with pytest.raises(ReleaseError, match=r"older than .*its figures are not that checkpoint's"):
        publish(copy, tmp_path / "stale")
    assert not (tmp_path / "stale").exists()
    status = json.loads((copy / "status.json").read_text())
    (copy / "status.json").write_text(json.dumps({**status, "state": "failed"}))
    with pytest.raises(RunStateError):
        publish(copy, tmp_path / "unfinished")


def test_the_publish_command(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    publish_main([f"run={run_dir}", f"out={tmp_path / 'cli'}"])
    assert f"release written: {tmp_path / 'cli'}" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="one of out=<folder> and zoo=true"):
        publish_main([f"run={run_dir}"])
    with pytest.raises(SystemExit, match="give zoo=true or zoo=false"):
        publish_main([f"run={run_dir}", "zoo=maybe"])


def test_a_release_exports_like_its_run(release: Path, tmp_path: Path) -> None:
    from medzoo.export import export_run

    path, result = export_run(release, "torchscript", tmp_path / "exported")
    assert path == tmp_path / "exported" / "model.pt" and result["passed"]
    assert result["checkpoint"] == "model.safetensors"
    assert sorted(p.name for p in release.iterdir()) == sorted([*FILES, SUMS])  # untouched
