"""Experiment tables: planning cells, rendering the report's shape, running and resuming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from medzoo.errors import UsageError
from medzoo.experiment import (
    ExperimentError,
    load_experiment,
    parse_arguments,
    plan_cells,
    render_table,
    run_experiment,
)


def test_glaucoma_table_plans_every_backbone_and_comparison() -> None:
    experiment = load_experiment("glaucoma_table")
    cells = plan_cells(experiment, "quick")
    assert len(cells) == 4 * 3  # rows × columns × one seed
    first = cells[0]
    assert first.key == "vgg19/glaucoma_vs_normal/seed0"
    assert first.overrides[0] == "task=glaucoma" and "model=vgg19_bn" in first.overrides
    mild = next(c for c in cells if c.key == "resnet152/glaucoma_vs_mild/seed0")
    assert "data=fundus_phantom" in mild.overrides
    assert "data.params.n_per_class=100" in mild.overrides  # the profile's per-column extra
    assert len(plan_cells(experiment, "full")) == 4 * 3 * 3
    with pytest.raises(ExperimentError, match="no profile"):
        plan_cells(experiment, "huge")
    with pytest.raises(ExperimentError, match="available"):
        load_experiment("no_such_table")


def test_arguments_split_into_options_and_cell_overrides() -> None:
    options, extra = parse_arguments(["name=glaucoma_table", "trainer.max_epochs=1"])
    assert options == {"name": "glaucoma_table", "profile": "quick", "output_dir": "outputs"}
    assert extra == ["trainer.max_epochs=1"]
    with pytest.raises(ExperimentError, match="usage"):
        parse_arguments(["profile=quick"])


def test_table_has_the_report_shape_and_marks_missing_cells() -> None:
    experiment = load_experiment("glaucoma_table")
    results = {
        "vgg19/glaucoma_vs_normal/seed0": {"metrics": {"auc": {"value": 0.8, "ci95": [0.7, 0.9]}}}
    }
    table = render_table(experiment, results, "quick")
    vgg = next(line for line in table.splitlines() if line.startswith("| VGG19"))
    assert "0.9999" in vgg and "0.800 (0.700–0.900)" in vgg and "not run" in vgg
    lite = next(line for line in table.splitlines() if "EfficientNet-Lite0" in line)
    assert "—" in lite  # the report has no figure for medzoo's own row


TINY = {
    "name": "tiny",
    "title": "tiny phantom table",
    "section": "O1",
    "task": "glaucoma",
    "metric": "auc",
    "columns": [
        {
            "key": "mild_vs_normal",
            "label": "mild vs normal",
            "data": "phantom",
            "overrides": [
                "data=fundus_phantom",
                "data.params.classes=[normal,mild]",
                "task.class_names=[normal,mild]",
            ],
        }
    ],
    "rows": [
        {"key": "r10", "label": "resnet10t", "overrides": ["model=resnet10t"], "report": {}},
    ],
    "profiles": {
        "quick": {
            "overrides": [
                "data.params.n_per_class=30",
                "data.params.size=48",
                "data.image_size=48",
                "trainer.max_epochs=1",
                "trainer.enable_progress_bar=false",
                "metrics.n_bootstrap=20",
            ],
            "seeds": [0, 1],
        }
    },
}


def test_experiment_runs_then_resumes_without_training(tmp_path: Path) -> None:
    experiment = OmegaConf.create(TINY)
    folder, table = run_experiment(experiment, "quick", output_dir=str(tmp_path))
    cells = json.loads((folder / "cells.json").read_text())
    assert set(cells) == {"r10/mild_vs_normal/seed0", "r10/mild_vs_normal/seed1"}
    assert "(n=2 runs)" in table and (folder / "table.md").is_file()
    runs_before = sorted((folder / "runs").rglob("metrics.json"))
    _, again = run_experiment(experiment, "quick", resume=str(folder))
    assert again == table
    assert sorted((folder / "runs").rglob("metrics.json")) == runs_before  # nothing retrained
    with pytest.raises(ExperimentError, match="cannot resume"):
        run_experiment(experiment, "quick", resume=str(folder), extra=["seed=3"])
    with pytest.raises(ExperimentError, match="not an experiment folder"):
        run_experiment(experiment, "quick", resume=str(tmp_path))


def test_a_later_override_of_a_key_replaces_the_earlier_and_keeps_the_rest_in_order() -> None:
    from medzoo.experiment import last_wins

    assert last_wins("seed=0", "data.image_size=64", "seed=2", "+x=1") == (
        "data.image_size=64",
        "seed=2",
        "+x=1",
    )


def test_cross_validation_experiment_runs_every_fold_and_shows_every_metric() -> None:
    experiment = load_experiment("ct_hemorrhage_cv")
    cells = plan_cells(experiment, "quick")
    assert [c.replicate for c in cells][:2] == ["r0f0", "r0f1"] and len(cells) == 10
    assert "data.split.cv.fold=3" in cells[3].overrides
    results = {
        cell.key: {"metrics": {"auc": {"value": 0.8 + 0.01 * k}, "sensitivity": {"value": 0.7}}}
        for k, cell in enumerate(cells)
    }
    table = render_table(experiment, results, "quick")
    assert "haemorrhage vs normal, specificity: medzoo" in table
    assert "0.845 ± 0.030 (n=10 runs)" in table  # AUC mean ± std over the ten folds
    assert "0.700 ± 0.000 (n=10 runs)" in table


@pytest.mark.parametrize(
    "name", ["breast_us_seeds", "glaucoma_seeds", "mitosis_seeds", "fundus_diseases_seeds"]
)
def test_a_row_that_sets_its_own_seed_keeps_it(name: str) -> None:
    from medzoo.config import compose

    cells = plan_cells(load_experiment(name), "quick", extra=["trainer.max_epochs=1"])
    seeds = []
    for cell in cells:
        cfg = compose(list(cell.overrides))
        assert cfg.seed == cfg.data.split.seed == int(cell.row.removeprefix("seed"))
        assert cfg.trainer.max_epochs == 1  # the command line still has the last word
        keys = [override.partition("=")[0] for override in cell.overrides]
        assert len(keys) == len(set(keys))  # each setting once in the cell's command
        seeds.append(cfg.seed)
    assert len(set(seeds)) == len(seeds) >= 3  # distinct seeds, each its own split


def test_declared_folds_plan_each_fold_of_each_repeat_once() -> None:
    experiment = OmegaConf.create(
        {
            "name": "cv",
            "task": "phantom_us",
            "metrics": ["auc"],
            "columns": [{"key": "c", "label": "c", "overrides": []}],
            "rows": [{"key": "r", "label": "r", "overrides": []}],
            "profiles": {"quick": {"overrides": [], "cv": {"folds": 3, "repeats": 2}}},
        }
    )
    cells = plan_cells(experiment, "quick")
    pairs = []
    for cell in cells:
        options = dict(o.split("=") for o in cell.overrides if o.startswith("data.split.cv."))
        pairs.append((int(options["data.split.cv.repeat"]), int(options["data.split.cv.fold"])))
        assert cell.replicate == f"r{pairs[-1][0]}f{pairs[-1][1]}"
    assert sorted(pairs) == [(r, f) for r in range(2) for f in range(3)]


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ({"overrides": [], "folds": 4}, "unknown keys \\['folds'\\]"),
        ({"cv": {"folds": 1}}, "folds ≥ 2"),
        ({"seeds": []}, None),  # an empty list means the default: seed 0
    ],
)
def test_a_profile_is_checked_where_it_is_read(profile: dict, message: str | None) -> None:
    from medzoo.profiles import Profile, choose_profile

    node = OmegaConf.create({"quick": profile})
    if message is None:
        assert [r.key for r in choose_profile(node, "quick", "x.yaml").replicates()] == ["seed0"]
        return
    with pytest.raises(UsageError, match=message) as caught:
        choose_profile(node, "quick", "x.yaml")
    assert "x.yaml" in str(caught.value) or "profile 'quick'" in str(caught.value)
    assert Profile("p").replicates()[0].overrides == ("seed=0",)


def test_every_table_file_declares_valid_profiles() -> None:
    from medzoo.experiment import experiment_names
    from medzoo.profiles import choose_profile
    from medzoo.reproduce import load_plan

    files = {"reproduce.yaml": load_plan()}
    files |= {f"{n}.yaml": load_experiment(n) for n in experiment_names()}
    for source, table in files.items():
        for name in table.profiles:
            assert choose_profile(table.profiles, name, source).replicates()
