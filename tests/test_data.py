from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from medzoo.data import cache
from medzoo.data.datamodule import ManifestDataModule
from medzoo.data.images import fit_square
from medzoo.data.labels import class_indices, multi_hot
from medzoo.data.manifest import ManifestError, read_manifest
from medzoo.data.near_duplicates import (
    NearDuplicateWarning,
    merge_groups,
    near_duplicate_pairs,
)
from medzoo.data.phantom_drawing import render_phantom
from medzoo.data.splits import (
    assign_splits,
    check_no_leakage,
    cross_validation_split,
    ensure_splits,
)
from medzoo.data.validate import DuplicateImageWarning, validate_manifest
from medzoo.heads import HEADS
from medzoo.tasks import get_card

CLASSES = ["benign", "malignant", "normal"]


def _write_images(folder: Path, n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        path = folder / f"img{i:03d}.png"
        Image.fromarray(rng.integers(0, 255, (20, 30), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


def picture(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A smooth random picture: large structures, as in a real image, not pixel noise."""
    coarse = rng.uniform(0, 255, (5, 5)).astype(np.float32)
    smooth = cv2.resize(coarse, shape[::-1], interpolation=cv2.INTER_CUBIC)
    return smooth.clip(0, 255).astype(np.uint8)


def _csv_datamodule(folder: Path, manifest: str, **kwargs) -> ManifestDataModule:
    return ManifestDataModule(
        "csv",
        CLASSES,
        HEADS["multiclass"].label_coding(get_card("phantom_us")),
        image_size=16,
        channels=1,
        root=str(folder),
        params={"manifest": manifest},
        **kwargs,
    )


def _frame(n_groups: int = 60, per_group: int = 3, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        label = CLASSES[rng.integers(0, 3)]
        rows += [
            {"image": f"g{g}_{k}.png", "label": label, "group": f"patient{g}"}
            for k in range(per_group)
        ]
    return pd.DataFrame(rows)


def test_splits_keep_groups_together_and_stratify() -> None:
    frame = assign_splits(_frame(), {"train": 0.7, "val": 0.15, "test": 0.15}, seed=3)
    assert frame.groupby("group")["split"].nunique().max() == 1
    check_no_leakage(frame, "test")
    shares = frame["split"].value_counts(normalize=True)
    assert 0.08 < shares["test"] < 0.25 and 0.08 < shares["val"] < 0.25
    for split in ("train", "val", "test"):
        assert set(frame.loc[frame["split"] == split, "label"]) == set(CLASSES)


def test_labels_rarer_than_the_folds_share_one_stratum() -> None:
    # Graded-item labels are nearly unique per image; stratifying on each would be impossible.
    frame = pd.DataFrame(
        {
            "image": [f"{i}.png" for i in range(60)],
            "label": [f"depth=d{i % 6};pocket=p{i % 7}" for i in range(60)],
            "group": [f"g{i // 2}" for i in range(60)],
        }
    )
    out = assign_splits(frame, {"train": 0.7, "val": 0.15, "test": 0.15}, seed=0)
    assert out["split"].value_counts().to_dict() == {"train": 40, "val": 10, "test": 10}
    assert out.groupby("group")["split"].nunique().max() == 1


def test_splits_are_reproducible_with_a_seed() -> None:
    fractions = {"train": 0.7, "val": 0.15, "test": 0.15}
    a = assign_splits(_frame(), fractions, seed=5)["split"].tolist()
    b = assign_splits(_frame(), fractions, seed=5)["split"].tolist()
    c = assign_splits(_frame(), fractions, seed=6)["split"].tolist()
    assert a == b
    assert a != c


def test_leakage_is_an_error_naming_the_group() -> None:
    frame = _frame(n_groups=4)
    frame["split"] = ["train", "train", "test"] + ["train"] * 3 + ["val"] * 3 + ["test"] * 3
    with pytest.raises(ManifestError, match=r"patient0.*g0_2\.png \[test\]"):
        check_no_leakage(frame, "manifest.csv")


def test_validation_lists_missing_unreadable_and_unknown(tmp_path: Path) -> None:
    paths = _write_images(tmp_path, 3)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    frame = pd.DataFrame(
        {
            "image": [*paths, str(tmp_path / "gone.png"), str(broken)],
            "label": ["benign", "tumour", "normal", "benign", "benign"],
            "group": list("abcde"),
        }
    )
    with pytest.raises(ManifestError) as err:
        validate_manifest(frame, CLASSES, multilabel=False, source="my.csv")
    message = str(err.value)
    assert "my.csv" in message
    assert "gone.png" in message and "do not exist" in message
    assert "broken.png" in message and "cannot be decoded" in message
    assert "img001.png: 'tumour'" in message


def test_conflicting_duplicates_are_dropped_and_same_label_kept_once(tmp_path: Path) -> None:
    paths = _write_images(tmp_path, 4)
    shutil.copy(paths[0], tmp_path / "copy_conflict.png")
    shutil.copy(paths[1], tmp_path / "copy_same.png")
    frame = pd.DataFrame(
        {
            "image": [*paths, str(tmp_path / "copy_conflict.png"), str(tmp_path / "copy_same.png")],
            "label": ["benign", "normal", "benign", "malignant", "malignant", "normal"],
            "group": list("abcdef"),
        }
    )
    with pytest.warns(DuplicateImageWarning, match="conflicting labels.*img000.png"):
        clean = validate_manifest(frame, CLASSES, multilabel=False, source="m.csv")
    kept = set(clean["image"])
    assert paths[0] not in kept and str(tmp_path / "copy_conflict.png") not in kept
    assert (paths[1] in kept) != (str(tmp_path / "copy_same.png") in kept)
    assert len(clean) == 3


def test_read_manifest_resolves_relative_paths_and_checks_columns(tmp_path: Path) -> None:
    _write_images(tmp_path, 2)
    (tmp_path / "m.csv").write_text("image,label\nimg000.png,benign\nimg001.png,normal\n")
    frame = read_manifest(tmp_path / "m.csv")
    assert frame["image"].tolist() == [str(tmp_path / "img000.png"), str(tmp_path / "img001.png")]
    assert frame["group"].nunique() == 2
    (tmp_path / "bad.csv").write_text("path,label\nimg000.png,benign\n")
    with pytest.raises(ManifestError, match=r"bad\.csv.*missing column"):
        read_manifest(tmp_path / "bad.csv")
    (tmp_path / "split.csv").write_text("image,label,split\nimg000.png,benign,holdout\n")
    with pytest.raises(ManifestError, match="unknown split"):
        read_manifest(tmp_path / "split.csv")


def test_fit_square_keeps_aspect_ratio() -> None:
    image = np.full((20, 40, 1), 255, dtype=np.uint8)
    out = fit_square(image, 32)
    assert out.shape == (32, 32, 1)
    rows_with_content = np.flatnonzero(out[..., 0].max(axis=1) > 0)
    assert len(rows_with_content) == 16  # 20×40 → 16×32, padded top and bottom


def test_image_cache_hits_and_invalidates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = _write_images(tmp_path, 3)
    first = cache.load_images(paths, 16, 1, directory=tmp_path)
    assert first.shape == (3, 16, 16, 1) and first.dtype == np.uint8

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(cache, "read_image", no_decoding)
    np.testing.assert_array_equal(cache.load_images(paths, 16, 1, directory=tmp_path), first)
    monkeypatch.undo()
    Image.fromarray(np.zeros((25, 30), dtype=np.uint8)).save(paths[0])  # edit one file
    again = cache.load_images(paths, 16, 1, directory=tmp_path)
    assert again[0].max() == 0 and not np.array_equal(again, first)


def test_phantom_is_deterministic_and_balanced() -> None:
    a, labels = render_phantom("breast_ultrasound", 4, 32, seed=1)
    b, _ = render_phantom("breast_ultrasound", 4, 32, seed=1)
    c, _ = render_phantom("breast_ultrasound", 4, 32, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])
    assert sorted(set(labels)) == CLASSES and labels.count("benign") == 4
    with pytest.raises(ValueError, match="cannot draw"):
        render_phantom("breast_ultrasound", 1, 32, seed=0, classes=("hcc",))


def test_label_codings() -> None:
    np.testing.assert_array_equal(class_indices(["normal", "benign"], CLASSES), [2, 0])
    multi = multi_hot(["a;c", ""], ["a", "b", "c"])
    np.testing.assert_array_equal(multi, [[1, 0, 1], [0, 0, 0]])


def test_datamodule_refuses_a_leaking_csv_manifest(tmp_path: Path) -> None:
    paths = _write_images(tmp_path, 6)
    pd.DataFrame(
        {
            "image": [Path(p).name for p in paths],
            "label": ["benign", "normal"] * 3,
            "group": ["p1", "p1", "p2", "p2", "p3", "p3"],
            "split": ["train", "test", "train", "train", "val", "val"],
        }
    ).to_csv(tmp_path / "manifest.csv", index=False)
    with pytest.raises(ManifestError, match="p1"):
        _csv_datamodule(tmp_path, "manifest.csv").setup()


def test_near_duplicates_are_linked_and_unrelated_images_are_not() -> None:
    rng = np.random.default_rng(0)
    base = picture(rng, (70, 70))
    recrop = fit_square(base[2:, 1:, None], 64)  # a re-crop of the same picture
    other = picture(rng, (70, 70))
    images = np.stack([fit_square(base[..., None], 64), fit_square(other[..., None], 64), recrop])
    assert near_duplicate_pairs(images, max_distance=4) == [(0, 2)]
    assert merge_groups(["a", "b", "c", "d"], [(0, 2), (2, 3)]) == ["a", "b", "a", "a"]


def test_datamodule_keeps_near_duplicates_in_one_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rows = []
    for i in range(30):
        image = picture(rng, (60, 80))
        for k, crop in enumerate((image, image[1:, 2:])):
            Image.fromarray(crop).save(tmp_path / f"{i}_{k}.png")
            rows.append({"image": f"{i}_{k}.png", "label": CLASSES[i % 3]})
    rows[1]["label"] = "malignant"  # picture 0 under two labels
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    dm = _csv_datamodule(tmp_path, "m.csv", near_duplicates=4)
    with pytest.warns(
        NearDuplicateWarning, match="0_0.png \\[benign\\] ~ .*0_1.png \\[malignant\\]"
    ):
        frame = dm.prepare_manifest()
    pairs = frame.assign(pid=frame["image"].map(lambda p: Path(p).name.split("_")[0]))
    assert "0" not in set(pairs["pid"])  # both copies of the conflicting picture dropped
    assert pairs.groupby("pid")["split"].nunique().max() == 1
    assert frame["group"].nunique() == 29 and len(frame) == 58


def _pairs_manifest(folder: Path, split: bool) -> None:
    """20 pictures, each saved twice (a re-crop); picture i belongs to slide ``s{i // 2}``, or
    with ``split``, each picture to one split but for picture 0, whose copies straddle two."""
    rng = np.random.default_rng(2)
    rows = []
    for i in range(20):
        image = picture(rng, (60, 80))
        for k, crop in enumerate((image, image[1:, 2:])):
            Image.fromarray(crop).save(folder / f"{i}_{k}.png")
            row = {"image": f"{i}_{k}.png", "label": CLASSES[i % 3]}
            if split:
                row["split"] = ("train", "train", "val", "test")[i % 4]
            else:
                row["group"] = f"s{i // 2}"
            rows.append(row)
    if split:
        rows[1]["split"] = "test" if rows[0]["split"] != "test" else "train"  # picture 0 leaks
    pd.DataFrame(rows).to_csv(folder / "m.csv", index=False)


def test_near_copies_across_a_manifest_split_are_refused_unless_accepted(tmp_path: Path) -> None:
    _pairs_manifest(tmp_path, split=True)
    with pytest.raises(ManifestError, match=r"0_0.png \[train\] ~ .*0_1.png \[test\]") as err:
        _csv_datamodule(tmp_path, "m.csv", near_duplicates=4).prepare_manifest()
    assert "near_duplicates_across_splits=warn" in str(err.value)
    accepting = _csv_datamodule(
        tmp_path, "m.csv", near_duplicates=4, near_duplicates_across_splits="warn"
    )
    with pytest.warns(NearDuplicateWarning, match="1 near-duplicate pair"):
        accepting.prepare_manifest()


def test_linking_keeps_the_recipes_unit_for_unit_level_figures(tmp_path: Path) -> None:
    _pairs_manifest(tmp_path, split=False)
    rng = np.random.default_rng(3)
    twin = picture(rng, (60, 80))  # one picture on two slides: linking merges the slides
    Image.fromarray(twin).save(tmp_path / "x_0.png")
    Image.fromarray(twin[1:, 2:]).save(tmp_path / "x_1.png")
    frame = pd.read_csv(tmp_path / "m.csv")
    extra = [{"image": "x_0.png", "label": "benign", "group": "s0"}]
    extra.append({"image": "x_1.png", "label": "benign", "group": "s9"})
    pd.concat([frame, pd.DataFrame(extra)]).to_csv(tmp_path / "m.csv", index=False)
    linked = _csv_datamodule(tmp_path, "m.csv", near_duplicates=4).prepare_manifest()
    assert linked.groupby("group")["unit"].nunique().max() == 2  # s0 and s9 linked...
    assert set(linked["unit"]) == {f"s{k}" for k in range(10)}  # ...yet each slide stays one
    assert linked.groupby("group")["split"].nunique().max() == 1


def test_segmentation_manifests_link_near_copies_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medzoo.data.manifest import normalise_manifest
    from medzoo.data.recipes import RECIPES
    from medzoo.heads.segmentation.data import SegmentationDataModule

    _pairs_manifest(tmp_path, split=False)
    frame = pd.read_csv(tmp_path / "m.csv")
    for name in frame["image"]:
        mask = (np.asarray(Image.open(tmp_path / name).convert("L")) > 128).astype(np.uint8)
        Image.fromarray(mask * 255).save(tmp_path / f"mask_{name}")
    masks = pd.DataFrame({"image": [str(tmp_path / n) for n in frame["image"]]}).assign(
        mask=[str(tmp_path / f"mask_{n}") for n in frame["image"]]
    )
    recipe = lambda root: normalise_manifest(masks, "masks", ("image", "mask"))  # noqa: E731
    monkeypatch.setitem(RECIPES, "pairs", recipe)
    module = SegmentationDataModule("pairs", 32, 1, 16, root=str(tmp_path), near_duplicates=4)
    linked = module.prepare_manifest()
    picture_of = linked["image"].map(lambda p: Path(p).name.split("_")[0])
    assert linked.groupby(picture_of)["split"].nunique().max() == 1
    assert linked["group"].nunique() == 20


def test_cross_validation_tests_every_image_once_and_keeps_groups_whole() -> None:
    frame = pd.DataFrame(
        {
            "image": [f"{i}.png" for i in range(120)],
            "label": ["a"] * 60 + ["b"] * 60,
            "group": [f"p{i // 3}" for i in range(120)],  # three images per patient
        }
    )
    tested: list[str] = []
    for fold in range(5):
        split = cross_validation_split(frame, folds=5, fold=fold, repeat=0)
        check_no_leakage(split, "cv")
        test = split[split["split"] == "test"]
        assert test["label"].value_counts().to_dict() == {"a": 12, "b": 12}
        assert (split["split"] == "val").sum() > 0
        tested += test["image"].tolist()
    assert sorted(tested) == sorted(frame["image"])
    first = cross_validation_split(frame, 5, 0, repeat=0)["split"]
    assert not first.equals(cross_validation_split(frame, 5, 0, repeat=1)["split"])
    with pytest.raises(ValueError, match="fold"):
        cross_validation_split(frame, 5, 5)


def test_a_manifest_split_and_a_cross_validation_together_are_refused() -> None:
    frame = _frame(n_groups=12)
    frame["split"] = (["train"] * 3 + ["val"] * 3 + ["test"] * 3) * 4
    with pytest.raises(ManifestError, match=r"own 'split' column.*data\.split\.cv\.folds=null"):
        ensure_splits(
            frame, {"train": 0.7, "val": 0.15, "test": 0.15}, 0, "m.csv", {"folds": 4, "fold": 0}
        )
    kept = ensure_splits(frame, {"train": 0.7, "val": 0.15, "test": 0.15}, 0, "m.csv", None)
    assert kept["split"].tolist() == frame["split"].tolist()
