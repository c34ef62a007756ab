from __future__ import annotations

import pytest

import medzoo
from medzoo.config import compose
from medzoo.heads import HEADS
from medzoo.reporting.report import side_by_side
from medzoo.tasks.card import card_from_config


def test_registry_lists_the_tasks() -> None:
    tasks = medzoo.list_tasks()
    assert {"phantom_us", "breast_us", "glaucoma", "fundus_diseases", "fundus_vessels"} <= set(
        tasks
    )
    with pytest.raises(KeyError, match="registered tasks"):
        medzoo.get_card("no_such_task")


@pytest.mark.parametrize("name", medzoo.list_tasks())
def test_every_card_is_complete_and_composes(name: str) -> None:
    card = medzoo.get_card(name)
    assert card.name == name and (card.head in HEADS or card.classes_from_manifest)
    assert card.section and card.modality and card.stand_in and card.licence
    assert card.data and card.model
    cfg = compose([f"task={name}"])
    assert cfg.task.name == name
    assert card_from_config(dict(cfg.task)).class_names == card.class_names


def test_breast_us_card_carries_the_report_figures() -> None:
    card = medzoo.get_card("breast_us")
    assert card.section == "U2" and card.data == "busi" and card.model == "efficientnet_lite0"
    assert card.class_groups == {"malignant_vs_rest": ("malignant",)}
    sensitivity = next(f for f in card.reference if f.metric.endswith("sensitivity"))
    assert sensitivity.report == (0.941, 0.949)  # text and table disagree: both kept


def test_card_rejects_inconsistent_groups() -> None:
    raw = {
        "name": "x",
        "title": "x",
        "modality": "us",
        "section": "U1",
        "head": "multiclass",
        "class_names": ["a", "b"],
        "class_groups": {"g": ["c"]},
    }
    with pytest.raises(ValueError, match="unknown classes"):
        card_from_config(raw)


def test_card_rejects_two_figures_under_one_label() -> None:
    import yaml

    # An unquoted comma in a flow mapping ends the label there: two rows would read "accuracy".
    figures = yaml.safe_load(
        "- {label: accuracy, main grades, metric: ordinal.accuracy_main, report: []}\n"
        "- {label: accuracy, all grades, metric: ordinal.accuracy, report: []}\n"
    )
    raw = {
        "name": "x",
        "title": "x",
        "modality": "colonoscopy",
        "section": "E2",
        "head": "ordinal",
        "class_names": ["a", "b", "c"],
        "reference": {"source": "s", "figures": figures},
    }
    with pytest.raises(ValueError, match="share the label"):
        card_from_config(raw)


def test_card_rejects_a_misspelt_quantification() -> None:
    raw = {
        "name": "x",
        "title": "x",
        "modality": "histology",
        "section": "P2",
        "head": "segmentation",
        "class_names": ["cell"],
    }
    assert card_from_config({**raw, "quantify": {"measure": "points"}}).quantification.measure == (
        "points"
    )
    with pytest.raises(ValueError, match="unknown keys \\['kind'\\]"):
        card_from_config({**raw, "quantify": {"kind": "points"}})


def test_create_task_builds_the_module() -> None:
    module = medzoo.create_task("phantom_us", ["model.backbone=resnet10t"])
    assert module.hparams.head == "multiclass" and module.class_names == [
        "benign",
        "malignant",
        "normal",
    ]


def test_report_figures_print_as_the_report_prints_them() -> None:
    glaucoma = side_by_side(
        medzoo.get_card("glaucoma"), {"auc": {"value": 0.8, "ci95": [0.7, 0.9]}}
    )
    assert "0.9999 / 0.9905 / 0.9994" in glaucoma and "0.800 (0.700–0.900)" in glaucoma
    diseases = side_by_side(medzoo.get_card("fundus_diseases"), {})
    amd = next(line for line in diseases.splitlines() if "macular degeneration" in line)
    assert "0.9" in amd and "no public data" in amd
