"""The architecture, checked rather than described: only the head registry decides by a head's
name, and a new head is one class registered in one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import medzoo
from medzoo.config import compose
from medzoo.heads import HEADS, head_of
from medzoo.heads.classification import MulticlassHead
from medzoo.train import run_training

SOURCE = Path(medzoo.__file__).parent

# A comparison of a head (``card.head``, ``head``, ``predictor.head``, a document's "head")
# with a literal or a tuple of literals.
BRANCH = re.compile(r"""(\bhead\b|\.head\b|\["head"\])\s*(==|!=|\bin\b|\bnot\s+in\b)\s*[("'\[]""")
# Where deciding by the head is the point: the registry and its heads; the cards, which check
# their own fields; the metrics, pure functions whose protocol argument names a document schema.
ALLOWED = ("heads", "tasks", "metrics")


def test_only_the_head_registry_branches_on_a_head_name() -> None:
    offenders = []
    for path in sorted(SOURCE.rglob("*.py")):
        relative = path.relative_to(SOURCE)
        if relative.parts[0] in ALLOWED:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if BRANCH.search(line.split("#")[0]):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert not offenders, "ask medzoo.heads.head_of(card) instead:\n" + "\n".join(offenders)


def test_the_branch_pattern_finds_what_it_is_meant_to() -> None:
    for line in (
        'if card.head == "detection":',
        "if head in ('binary', 'multiclass'):",
        'kind = x if document["head"] != "items" else y',
    ):
        assert BRANCH.search(line), line
    assert not BRANCH.search("if head_of(card).streams == 'boxes':")


def test_every_task_names_a_registered_head() -> None:
    for name in medzoo.list_tasks():
        card = medzoo.get_card(name)
        if not card.classes_from_manifest:  # its head is known once a manifest is read
            assert head_of(card).name == card.head


class ToyHead(MulticlassHead):
    """A head that differs only in what its model cards warn of: all it takes is this class
    and one line in the registry."""

    name = "toy"
    failure_mode = "Toy head: trained on two epochs of a phantom."


def test_a_new_head_is_one_class_and_one_registry_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(HEADS, "toy", ToyHead())  # the one registry line
    cfg = compose(
        [
            "task.head=toy",
            "data.params.n_per_class=30",
            "data.params.size=32",
            "data.image_size=32",
            "trainer.max_epochs=1",
            "trainer.enable_progress_bar=false",
            "metrics.n_bootstrap=20",
            f"output_dir={tmp_path}",
        ]
    )
    run = run_training(cfg)
    assert run.status()["state"] == "finished"
    assert run.read_json("metrics.json")["head"] == "multiclass"  # its figures' protocol
    assert ToyHead.failure_mode in (run.path / "model_card.md").read_text()
    assert "head: toy" in (run.path / "model_card.md").read_text()


def test_an_unregistered_head_is_refused_before_a_run_folder_exists(tmp_path: Path) -> None:
    cfg = compose(["task.head=regression", f"output_dir={tmp_path / 'out'}"])
    with pytest.raises(ValueError, match="unknown head 'regression'; registered heads: binary"):
        run_training(cfg)
    assert not (tmp_path / "out").exists()
