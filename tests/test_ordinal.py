"""The ordinal head: rank-consistent grade probabilities, its order-aware figures against
scikit-learn, learning on a phantom with grades, both formulations, and the HyperKvasir
recipe (skipped without the public data folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import cohen_kappa_score

from medzoo.config import compose
from medzoo.heads import load_module
from medzoo.heads.classification.module import ClassificationModule
from medzoo.heads.ordinal.module import OrdinalModule
from medzoo.metrics.ordinal import median_grade, ordinal_figures
from medzoo.train import run_training

GRADES = ["normal", "benign", "malignant"]  # the phantom's classes, read as three grades
PHANTOM = [
    "task=uc_severity",
    "data=phantom_us",
    "model=resnet10t",
    f"task.class_names=[{','.join(GRADES)}]",
    "task.grade_values=[0,1,2]",
    "task.class_groups={moderate_or_severe:[malignant]}",
    "data.params.n_per_class=80",
    "data.batch_size=16",
    "data.params.size=40",
    "data.image_size=40",
    "trainer.max_epochs=5",
    "trainer.enable_progress_bar=false",
    "metrics.n_bootstrap=50",
]


def test_grade_probabilities_are_rank_consistent() -> None:
    torch.manual_seed(0)
    module = OrdinalModule(
        class_names=["a", "b", "c", "d", "e"], backbone="resnet10t", in_chans=1, image_size=32
    )
    with torch.no_grad():
        module.gaps.normal_(0, 3)  # any cut-points the optimiser may reach
        logits = module(torch.rand(16, 1, 32, 32))
    above = torch.sigmoid(logits)
    assert (above[:, 1:] <= above[:, :-1]).all()  # P(grade > k) never rises with k
    probs = module.probabilities(logits)
    assert (probs >= 0).all() and torch.allclose(probs.sum(1), torch.ones(16))
    # The median grade of these probabilities is CORAL's rank: how many P(grade > k) exceed 1/2.
    rank = (above > 0.5).sum(1).numpy()
    assert (median_grade(probs.numpy()) == rank).all()
    targets = torch.randint(0, 5, (16,))
    by_hand = F.binary_cross_entropy_with_logits(
        logits, (targets[:, None] > torch.arange(4)[None, :]).float()
    )
    assert torch.isclose(module._loss(logits, targets), by_hand)


@pytest.mark.parametrize("seed", range(3))
def test_order_aware_figures_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 6, 300)
    probs = rng.dirichlet(np.ones(6), 300)
    values = np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    main = values == np.round(values)
    got = ordinal_figures(y, probs, values, main)
    predicted = median_grade(probs)
    assert got["quadratic_kappa"] == pytest.approx(
        cohen_kappa_score(y, predicted, weights="quadratic", labels=range(6))
    )
    assert got["grade_mae"] == pytest.approx(np.abs(values[y] - values[predicted]).mean())
    assert got["accuracy_main"] == pytest.approx((y == predicted)[main[y]].mean())


@pytest.fixture(scope="module")
def ordinal_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ordinal")
    return run_training(compose([*PHANTOM, f"output_dir={out}"])).path


def test_the_ordinal_head_learns_grades_and_reloads(ordinal_run: Path) -> None:
    import json

    import medzoo

    document = json.loads((ordinal_run / "metrics.json").read_text())
    assert document["formulation"] == "cumulative"
    assert document["ordinal"]["quadratic_kappa"]["value"] > 0.4  # chance: about 0
    assert document["val_ordinal"]["quadratic_kappa"]["value"] > 0.4
    assert document["groups"]["moderate_or_severe"]["auc"]["value"] > 0.75
    assert "quadratic-weighted kappa" in (ordinal_run / "report.md").read_text()
    module = load_module(ordinal_run / "checkpoints" / "best.ckpt")
    assert type(module) is OrdinalModule
    rows = pd.read_csv(ordinal_run / "predictions.csv").head(6)
    probs = medzoo.load(ordinal_run).predict(rows["image"].tolist())
    np.testing.assert_allclose(probs, rows.filter(like="prob_").to_numpy(), atol=1e-5)


def test_plain_multiclass_is_the_formulation_to_compare(tmp_path: Path) -> None:
    overrides = [*PHANTOM, "trainer.max_epochs=1", "head.formulation=multiclass"]
    run = run_training(compose([*overrides, f"output_dir={tmp_path}"]))
    assert run.read_json("metrics.json")["formulation"] == "multiclass"
    module = load_module(run.path / "checkpoints" / "best.ckpt")
    assert type(module) is ClassificationModule
    from medzoo.errors import UsageError

    with pytest.raises(UsageError, match=r"head\.formulation='coral'"):
        run_training(compose([*PHANTOM, "head.formulation=coral", f"output_dir={tmp_path}"]))


@pytest.mark.real_data
def test_hyperkvasir_folds_and_conflicting_copies(shared_data: Path) -> None:
    from medzoo.data.recipes import build_manifest

    native = pd.read_csv(shared_data / "hyperkvasir_uc" / "labels.csv")
    for fold in (0, 1):
        frame = build_manifest("hyperkvasir_uc", shared_data, test_fold=fold)
        assert len(frame) == len(native) == 851
        official = native.loc[native["split"] == f"fold{fold}", "image"].map(
            lambda p: str((shared_data / "hyperkvasir_uc" / p).resolve())
        )
        assert set(frame.loc[frame["split"] == "test", "image"]) == set(official)
        assert set(frame["split"]) == {"train", "val", "test"}
