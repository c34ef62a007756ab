from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from medzoo.metrics import (
    BootstrapSpec,
    DecisionRule,
    Predictions,
    ThresholdRule,
    binary_metrics,
    bootstrap_ci,
    choose_threshold,
    evaluate_predictions,
    grouped_binary,
    multiclass_metrics,
)


def _binary_case(seed: int, n: int = 200, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = rng.normal(size=n) + 1.2 * y
    if ties:
        score = np.round(score, 1)  # many tied scores
    return y, score


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ties", [False, True])
def test_binary_metrics_equal_sklearn(seed: int, ties: bool) -> None:
    y, score = _binary_case(seed, ties=ties)
    threshold = float(np.median(score))
    pred = (score >= threshold).astype(int)
    got = binary_metrics(y, score, threshold)
    assert got["auc"] == pytest.approx(roc_auc_score(y, score))
    assert got["sensitivity"] == pytest.approx(recall_score(y, pred))
    assert got["specificity"] == pytest.approx(recall_score(y, pred, pos_label=0))
    assert got["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert got["ppv"] == pytest.approx(precision_score(y, pred))
    assert got["npv"] == pytest.approx(precision_score(y, pred, pos_label=0))
    assert got["f1"] == pytest.approx(f1_score(y, pred))


def test_undefined_ppv_is_nan_not_zero() -> None:
    y = np.array([0, 1, 0, 1])
    got = binary_metrics(y, np.array([0.1, 0.2, 0.3, 0.4]), threshold=0.9)
    assert np.isnan(got["ppv"])
    assert got["sensitivity"] == 0.0 and got["specificity"] == 1.0


def test_one_class_only_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="need both classes"):
        binary_metrics(np.ones(5, dtype=int), np.linspace(0, 1, 5), 0.5)


@pytest.mark.parametrize(
    ("y", "score", "match"),
    [
        ([0, 1, 2], [0.1, 0.2, 0.3], "only 0 and 1"),
        ([0, 1], [0.1, np.nan], "NaN"),
        ([0, 1], [0.1], "same length"),
        ([], [], "empty"),
    ],
)
def test_bad_binary_inputs_are_rejected(y, score, match) -> None:
    with pytest.raises(ValueError, match=match):
        binary_metrics(np.array(y), np.array(score, dtype=float), 0.5)


@pytest.mark.parametrize("seed", range(4))
def test_youden_threshold_maximises_j(seed: int) -> None:
    y, score = _binary_case(seed, ties=seed % 2 == 1)
    threshold = choose_threshold(y, score, "youden")
    fpr, tpr, _ = roc_curve(y, score)
    best_j = np.max(tpr - fpr)
    got = binary_metrics(y, score, threshold)
    assert got["sensitivity"] + got["specificity"] - 1 == pytest.approx(best_j)


def test_sensitivity_target_threshold() -> None:
    y, score = _binary_case(7)
    threshold = choose_threshold(y, score, "sensitivity", 0.9)
    assert binary_metrics(y, score, threshold)["sensitivity"] >= 0.9
    # The highest such threshold: nudging it up drops sensitivity below the target.
    higher = np.min(score[score > threshold])
    assert binary_metrics(y, score, higher)["sensitivity"] < 0.9


@pytest.mark.parametrize("decimals", [1, 2, 6])  # 1 and 2: many tied scores
def test_sensitivity_threshold_is_the_highest_that_meets_the_target(decimals: int) -> None:
    for seed in range(300):
        rng = np.random.default_rng(seed)
        n = int(rng.integers(6, 60))
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        score = np.round(rng.random(n), decimals)
        target = float(rng.choice([0.3, 0.5, 0.8, 0.9, 0.95, 1.0]))
        meets = [t for t in np.unique(score) if (score[y == 1] >= t).mean() >= target]
        got = choose_threshold(y, score, "sensitivity", target)
        assert got == max(meets), (seed, target)
        assert binary_metrics(y, score, got)["sensitivity"] >= target


def test_fixed_threshold_and_errors() -> None:
    y, score = _binary_case(1)
    assert choose_threshold(y, score, "fixed", 0.3) == 0.3
    with pytest.raises(ValueError, match="needs a value"):
        choose_threshold(y, score, "fixed")
    with pytest.raises(ValueError, match="unknown threshold method"):
        choose_threshold(y, score, "median")


@pytest.mark.parametrize("seed", range(3))
def test_multiclass_metrics_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, 300)
    logits = rng.normal(size=(300, 4)) + 1.5 * np.eye(4)[y]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    got = multiclass_metrics(y, probs)
    pred = probs.argmax(1)
    assert got["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert got["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    np.testing.assert_allclose(got["recall"], recall_score(y, pred, average=None))
    np.testing.assert_array_equal(got["confusion_matrix"], confusion_matrix(y, pred))
    assert got["auc_macro_ovr"] == pytest.approx(roc_auc_score(y, probs, multi_class="ovr"))
    for k in range(4):
        assert got["auc"][k] == pytest.approx(roc_auc_score(y == k, probs[:, k]))


def _imbalanced_posteriors(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Classes drawn 70/20/10 with overlapping Gaussian features, and each image's exact
    posterior: calibrated probabilities that carry the class prior, as cross-entropy learns."""
    rng = np.random.default_rng(seed)
    prior = np.array([0.7, 0.2, 0.1])
    y = rng.choice(3, size=n, p=prior)
    x = rng.normal(size=n) + 1.5 * y
    likelihood = np.exp(-0.5 * (x[:, None] - 1.5 * np.arange(3)) ** 2)
    joint = likelihood * prior
    return y, joint / joint.sum(1, keepdims=True)


@pytest.mark.parametrize("seed", range(3))
def test_prior_decision_divides_out_the_prior_and_leaves_auc_alone(seed: int) -> None:
    y, probs = _imbalanced_posteriors(seed, 3000)
    divisors = DecisionRule("prior").divisors(y, 3)
    assert DecisionRule().divisors(y, 3) is None
    np.testing.assert_allclose(divisors, (np.bincount(y, minlength=3) + 1) / (y.size + 3))
    plain, balanced = multiclass_metrics(y, probs), multiclass_metrics(y, probs, divisors)
    pred = (probs / divisors).argmax(1)
    assert balanced["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
    assert balanced["accuracy"] == pytest.approx(accuracy_score(y, pred))
    # the Bayes decision for mean recall beats the Bayes decision for accuracy on mean recall,
    # and loses on accuracy; the ranking figures do not move
    assert balanced["balanced_accuracy"] > plain["balanced_accuracy"] + 0.02
    assert balanced["accuracy"] < plain["accuracy"]
    np.testing.assert_array_equal(balanced["auc"], plain["auc"])


def test_prior_decision_in_the_document_uses_validation_only() -> None:
    y_val, p_val = _imbalanced_posteriors(0, 600)
    y_test, p_test = _imbalanced_posteriors(1, 400)
    names = ["common", "middling", "rare"]
    val, test = Predictions(y_val, p_val), Predictions(y_test, p_test)
    boot = BootstrapSpec(20, 0)
    doc = evaluate_predictions(
        "multiclass", names, val, test, boot=boot, decision=DecisionRule("prior")
    )
    divisors = DecisionRule("prior").divisors(y_val, 3)
    assert doc["decision"]["chosen_on"] == "val"
    np.testing.assert_allclose(list(doc["decision"]["divisors"].values()), divisors)
    pred = (p_test / divisors).argmax(1)
    assert doc["balanced_accuracy"]["value"] == pytest.approx(balanced_accuracy_score(y_test, pred))
    np.testing.assert_array_equal(doc["confusion_matrix"], confusion_matrix(y_test, pred))
    # the test labels never reach the decision: other test labels, the same divisors
    shuffled = Predictions(np.roll(y_test, 7), p_test)
    again = evaluate_predictions(
        "multiclass", names, val, shuffled, boot=boot, decision=DecisionRule("prior")
    )
    assert again["decision"] == doc["decision"]
    plain = evaluate_predictions("multiclass", names, val, test, boot=boot)
    assert plain["decision"] == {"method": "argmax", "chosen_on": "val"}
    assert plain["auc_macro_ovr"] == doc["auc_macro_ovr"]
    with pytest.raises(ValueError, match=r"metrics\.decision"):
        DecisionRule("mode")


def test_grouped_binary_collapses_classes() -> None:
    names = ["hcc", "metastasis", "haemangioma", "cyst"]
    probs = np.array([[0.5, 0.2, 0.2, 0.1], [0.1, 0.1, 0.7, 0.1], [0.0, 0.6, 0.0, 0.4]])
    y = np.array([0, 3, 1])
    y_bin, score = grouped_binary(y, probs, names, ["hcc", "metastasis"])
    np.testing.assert_array_equal(y_bin, [1, 0, 1])
    np.testing.assert_allclose(score, [0.7, 0.2, 0.6])
    with pytest.raises(ValueError, match="unknown classes"):
        grouped_binary(y, probs, names, ["adenoma"])


def test_bootstrap_is_seeded_stratified_and_contains_estimate() -> None:
    y, score = _binary_case(3, n=150)

    def statistic(idx: np.ndarray) -> dict[str, float]:
        assert y[idx].sum() == y.sum()  # stratified: class counts never change
        return {"auc": roc_auc_score(y[idx], score[idx])}

    first = bootstrap_ci(statistic, strata=y, n_boot=200, seed=11)
    again = bootstrap_ci(statistic, strata=y, n_boot=200, seed=11)
    other = bootstrap_ci(statistic, strata=y, n_boot=200, seed=12)
    assert first == again
    assert first != other
    lo, hi = first["auc"]
    assert lo < roc_auc_score(y, score) < hi
    assert 0.0 < hi - lo < 0.3


def test_threshold_comes_from_validation_not_test() -> None:
    rng = np.random.default_rng(0)
    y_val = rng.integers(0, 2, 200)
    y_test = rng.integers(0, 2, 200)
    # Validation scores are shifted, so its Youden threshold differs from test's.
    p_val = np.clip(0.3 + 0.4 * y_val + rng.normal(0, 0.1, 200), 0, 1)
    p_test = np.clip(0.1 + 0.4 * y_test + rng.normal(0, 0.1, 200), 0, 1)
    val = Predictions(y_val, np.stack([1 - p_val, p_val], 1))
    test = Predictions(y_test, np.stack([1 - p_test, p_test], 1))
    doc = evaluate_predictions("binary", ["neg", "pos"], val, test, boot=BootstrapSpec(50, 0))
    assert doc["threshold"]["value"] == pytest.approx(choose_threshold(y_val, p_val))
    assert doc["threshold"]["chosen_on"] == "val"
    expected = binary_metrics(y_test, p_test, doc["threshold"]["value"])
    for name, value in expected.items():
        assert doc[name]["value"] == pytest.approx(value)
        lo, hi = doc[name]["ci95"]
        assert lo <= value <= hi


def test_multiclass_document_has_groups_and_per_class() -> None:
    rng = np.random.default_rng(1)
    names = ["benign", "malignant", "normal"]

    def split(n: int) -> Predictions:
        y = rng.integers(0, 3, n)
        logits = rng.normal(size=(n, 3)) + 2 * np.eye(3)[y]
        return Predictions(y, np.exp(logits) / np.exp(logits).sum(1, keepdims=True))

    val, test = split(120), split(150)
    doc = evaluate_predictions(
        "multiclass",
        names,
        val,
        test,
        groups={"malignant_vs_rest": ["malignant"]},
        rule=ThresholdRule("youden"),
        boot=BootstrapSpec(50, 0),
    )
    assert doc["accuracy"]["value"] == pytest.approx(accuracy_score(test.y, test.probs.argmax(1)))
    assert set(doc["per_class"]) == set(names)
    group = doc["groups"]["malignant_vs_rest"]
    y_bin, score = grouped_binary(test.y, test.probs, names, ["malignant"])
    assert group["auc"]["value"] == pytest.approx(roc_auc_score(y_bin, score))
    assert group["n_positive"] == int(y_bin.sum())


def test_multilabel_document_per_label() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, (160, 3))
    probs = np.clip(0.5 * y + rng.uniform(0, 0.6, (160, 3)), 0, 1)
    doc = evaluate_predictions(
        "multilabel",
        ["a", "b", "c"],
        Predictions(y, probs),
        Predictions(y, probs),
        boot=BootstrapSpec(30, 0),
    )
    for k, name in enumerate("abc"):
        assert doc["per_label"][name]["auc"]["value"] == pytest.approx(
            roc_auc_score(y[:, k], probs[:, k])
        )
    assert doc["auc_macro"] == pytest.approx(roc_auc_score(y, probs, average="macro"))


def test_multilabel_label_absent_from_test_is_undefined_not_zero() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, (80, 2))
    y[:, 1] = 0  # no positive for label b
    probs = rng.uniform(0, 1, (80, 2))
    doc = evaluate_predictions(
        "multilabel",
        ["a", "b"],
        Predictions(y, probs),
        Predictions(y, probs),
        boot=BootstrapSpec(20, 0),
    )
    assert doc["per_label"]["b"]["auc"]["value"] is None
    assert doc["auc_macro"] == pytest.approx(roc_auc_score(y[:, 0], probs[:, 0]))


@pytest.mark.parametrize(
    ("k", "n"), [(12, 14), (11, 13), (23, 27), (25, 27), (0, 9), (9, 9), (1, 1)]
)
def test_clopper_pearson_equals_scipy(k: int, n: int) -> None:
    from scipy.stats import binomtest

    from medzoo.metrics.exact import clopper_pearson

    expected = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert clopper_pearson(k, n) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_exact_proportions_replace_bootstrap_intervals() -> None:
    from medzoo.metrics.exact import clopper_pearson
    from medzoo.metrics.protocol import BootstrapSpec, ThresholdRule, binary_block

    # The report's SJS/TEN matrix: SJS/TEN 12 right / 2 wrong, others 2 wrong / 11 right.
    y = np.array([1] * 14 + [0] * 13)
    score = np.array([0.9] * 12 + [0.1] * 2 + [0.9] * 2 + [0.1] * 11)
    rule = ThresholdRule("fixed", 0.5)
    exact = binary_block(y, score, y, score, rule, BootstrapSpec(200, 0, "exact"))
    assert exact["confusion_matrix"] == [[11, 2], [2, 12]]
    assert exact["accuracy"]["value"] == pytest.approx(23 / 27)  # 85.2%, not the text's 92.6%
    assert tuple(exact["sensitivity"]["ci95"]) == pytest.approx(clopper_pearson(12, 14))
    assert tuple(exact["npv"]["ci95"]) == pytest.approx(clopper_pearson(11, 13))
    boot = binary_block(y, score, y, score, rule, BootstrapSpec(200, 0))
    assert exact["auc"] == boot["auc"]  # AUC stays bootstrapped
    # The exact interval is wider than the bootstrap's on 14 cases.
    width = np.diff(exact["sensitivity"]["ci95"])[0]
    assert width > np.diff(boot["sensitivity"]["ci95"])[0]
    with pytest.raises(ValueError, match="proportion_ci"):
        BootstrapSpec(10, 0, "wilson")


# --- confidence intervals that resample the unit that repeats ------------------------------


def _repeated_set(repeats: int, n_groups: int = 120, seed: int = 3) -> tuple[np.ndarray, ...]:
    """``n_groups`` independent cases, each the same image ``repeats`` times: a binary label,
    a score that separates the classes imperfectly, and the case id of every row."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_groups) % 2, repeats)
    case_score = rng.normal(size=n_groups) + 1.0 * (np.arange(n_groups) % 2)
    return y, np.repeat(case_score, repeats), np.repeat(np.arange(n_groups), repeats)


def _auc_width(y: np.ndarray, score: np.ndarray, clusters: np.ndarray | None) -> float:
    lo, hi = bootstrap_ci(
        lambda idx: {"auc": roc_auc_score(y[idx], score[idx])},
        strata=y,
        n_boot=600,
        seed=1,
        clusters=clusters,
    )["auc"]
    return hi - lo


def test_a_case_repeated_ten_times_is_still_one_case() -> None:
    y1, s1, _ = _repeated_set(1)
    y10, s10, cases = _repeated_set(10)
    once = _auc_width(y1, s1, None)
    grouped = _auc_width(y10, s10, cases)
    per_image = _auc_width(y10, s10, None)
    assert grouped == pytest.approx(once, rel=0.15)  # Monte-Carlo error of 600 replicates
    assert once / per_image == pytest.approx(np.sqrt(10), rel=0.2)


def test_one_image_per_unit_resamples_exactly_as_images() -> None:
    y, score, cases = _repeated_set(1)
    assert _auc_width(y, score, cases) == _auc_width(y, score, None)


def test_a_replicate_draws_whole_units_and_keeps_their_number_per_label() -> None:
    # Units 0-2 negative, 3-4 positive, unit 5 mixed (one eye diseased, one healthy).
    units = np.array([0, 0, 1, 2, 2, 2, 3, 4, 4, 5, 5])
    labels = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 0, 1])
    sizes = np.bincount(units)
    seen: list[np.ndarray] = []
    bootstrap_ci(lambda idx: seen.append(idx) or {"n": 0.0}, labels, 50, 0, clusters=units)
    for idx in seen:
        rows = np.bincount(units[idx], minlength=sizes.size)
        assert (rows % sizes == 0).all()  # every draw brings all of a unit's images
        draws = rows // sizes
        assert draws[:3].sum() == 3 and draws[3:5].sum() == 2 and draws[5] == 1
    assert len({tuple(idx) for idx in seen}) > 10  # and the draws do vary


def test_the_document_names_the_unit_resampled() -> None:
    y, score, cases = _repeated_set(3, n_groups=40)
    probs = np.column_stack([1 - expit(score), expit(score)])
    val = Predictions(y, probs)
    grouped = evaluate_predictions(
        "binary", ["a", "b"], val, val, units=cases.astype(str), unit="patient"
    )
    assert grouped["bootstrap"]["unit"] == "patient"
    assert grouped["bootstrap"]["n_units"] == 40 and grouped["n"] == 120
    alone = evaluate_predictions("binary", ["a", "b"], val, val, units=np.arange(120), unit="x")
    assert alone["bootstrap"]["unit"] == "image" and alone["bootstrap"]["n_units"] == 120
    assert alone["auc"] == evaluate_predictions("binary", ["a", "b"], val, val)["auc"]
    # Exact intervals count independent images: with repeated units they are bootstrapped.
    exact = BootstrapSpec(200, proportions="exact")
    repeated = evaluate_predictions("binary", ["a", "b"], val, val, boot=exact, units=cases)
    assert repeated["bootstrap"]["proportions"] == "bootstrap"
    single = evaluate_predictions("binary", ["a", "b"], val, val, boot=exact)
    assert single["bootstrap"]["proportions"] == "Clopper-Pearson"


def test_roc_marks_find_each_curves_auc_and_validation_operating_point(tmp_path) -> None:
    from medzoo.metrics.plots import plot_roc, roc_marks

    fig = {"value": 0.9, "ci95": [0.8, 0.95]}
    multiclass = {
        "head": "multiclass",
        "per_class": {"benign": {"auc": fig}, "malignant": {"auc": fig}},
        "groups": {
            "malignant_vs_rest": {
                "positive": ["malignant"],
                "auc": fig,
                "sensitivity": {"value": 0.8},
                "specificity": {"value": 0.7},
            }
        },
    }
    marks = roc_marks(multiclass, ["benign vs rest", "malignant vs rest"])
    assert "sensitivity" not in marks["benign vs rest"]  # argmax: no threshold of its own
    assert marks["malignant vs rest"]["specificity"]["value"] == 0.7  # the group's threshold
    binary = {"head": "binary", "auc": fig, "sensitivity": fig, "specificity": fig}
    assert roc_marks(binary, ["glaucoma"])["glaucoma"] is binary
    assert roc_marks({"head": "multiclass"}, ["x vs rest"]) == {}
    y = np.array([0, 0, 1, 1, 0, 1])
    path = tmp_path / "roc.png"
    plot_roc({"malignant vs rest": (y, y * 0.5 + 0.2)}, path, "roc", marks)
    assert path.stat().st_size > 0
