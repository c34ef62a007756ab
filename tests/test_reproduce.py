"""python -m medzoo.reproduce: the plan covers the report's tables, runs are reused, and
REPRODUCTION.md shows the report's figures beside medzoo's mean ± std with each seed's CI."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from medzoo.commands import UsageError
from medzoo.experiment import ExperimentError
from medzoo.reproduce import load_plan, main, reproduce, task_overrides
from medzoo.tasks import get_card, list_tasks

REPORT_TABLES = [
    *(f"U{k}" for k in range(1, 6)),
    *(f"O{k}" for k in range(1, 4)),
    *(f"D{k}" for k in range(1, 7)),
    *(f"P{k}" for k in range(1, 4)),
    *(f"E{k}" for k in range(1, 6)),
    *(f"R{k}" for k in range(1, 4)),
]


def test_the_plan_covers_every_report_table_and_every_task() -> None:
    plan = load_plan()
    report = [str(t.id) for t in plan.tables if not t.get("beyond_report")]
    assert report == REPORT_TABLES  # every table of the report, in its order
    planned = [e.task for t in plan.tables for e in t.get("tasks") or []]
    assert len(planned) == len(set(planned))
    # not report tables: the demo, and the task for a user's own manifest
    assert set(planned) == set(list_tasks()) - {"phantom_us", "classify"}
    for table in plan.tables:
        assert bool(table.get("tasks")) != bool(table.get("no_run")), table.id
        for entry in table.get("tasks") or []:
            assert get_card(entry.task).section == table.id
    assert all(list(p.seeds) == [0, 1, 2] for p in plan.profiles.values())


def _tiny_plan(epochs: int = 2) -> OmegaConf:
    return OmegaConf.create(
        {
            "profiles": {
                "quick": {
                    "note": "test",
                    "overrides": ["trainer.enable_progress_bar=false"],
                    "seeds": [0, 1],
                },
                "full": {"note": "test", "overrides": [], "seeds": [0, 1]},
            },
            "tables": [
                {
                    "id": "U1",
                    "title": "Liver tumour classification",
                    "tasks": [
                        {
                            "task": "liver_us",
                            "quick": [
                                "data.params.n_per_class=25",
                                "data.params.size=32",
                                "data.image_size=32",
                                f"trainer.max_epochs={epochs}",
                                "metrics.n_bootstrap=50",
                            ],
                        }
                    ],
                },
                {"id": "U5", "title": "Echocardiography", "no_run": "Nothing to reproduce"},
            ],
        }
    )


def test_reproduce_writes_the_tables_and_reuses_finished_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    output = tmp_path / "REPRODUCTION.md"
    reproduce(output_dir=tmp_path / "out", output=output, plan=_tiny_plan())
    text = output.read_text()
    assert "## U1 — Liver tumour classification" in text
    assert "## U5 — Echocardiography\n\nNothing to reproduce." in text
    assert "- stand-in data: procedural phantom" in text and "- licence:" in text
    row = next(line for line in text.splitlines() if line.startswith("| four-class accuracy"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == "0.836"
    assert re.fullmatch(r"\d\.\d{3} ± \d\.\d{3}", cells[2])
    assert len(cells[3].split("; ")) == 2  # one CI per seed
    runs = sorted((tmp_path / "out" / "reproduce" / "quick" / "liver_us" / "runs").rglob("*.ckpt"))
    started = time.perf_counter()
    reproduce(output_dir=tmp_path / "out", output=output, plan=_tiny_plan())
    assert time.perf_counter() - started < 10  # nothing retrained
    again = sorted((tmp_path / "out" / "reproduce" / "quick" / "liver_us" / "runs").rglob("*.ckpt"))
    assert again == runs
    assert output.read_text().split("## U1")[1] == text.split("## U1")[1]

    # publish=true: the seed the validation figure prefers goes into the local zoo
    from medzoo.publish import read_checkpoint, validation_score
    from medzoo.releases import list_models

    monkeypatch.setenv("MEDZOO_HOME", str(tmp_path / "home"))
    reproduce(output_dir=tmp_path / "out", output=output, plan=_tiny_plan(), publish_to_zoo=True)
    scores = [
        validation_score(read_checkpoint(run / "best.ckpt"))["value"]
        for run in {r.parent for r in runs}
    ]
    (listed,) = list_models()
    config = json.loads((Path(listed["path"]) / "config.json").read_text())
    assert listed["task"] == "liver_us" and config["validation"]["value"] == max(scores)
    with pytest.raises(ExperimentError, match="cannot resume it"):
        reproduce(output_dir=tmp_path / "out", output=output, plan=_tiny_plan(epochs=3))


def test_unrun_tables_say_how_to_run_them(tmp_path: Path) -> None:
    plan = _tiny_plan()
    plan.tables[0].tasks[0].quick = []
    output = tmp_path / "R.md"
    reproduce(table="U5", output_dir=tmp_path / "out", output=output, plan=plan)
    assert "Not run yet: `python -m medzoo.reproduce table=U1 profile=quick`" in output.read_text()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(SystemExit, match="unknown table 'Z9'"):
        main(["table=Z9", "output=/nonexistent/x.md"])
    with pytest.raises(SystemExit, match="cannot read argument"):
        main(["tabel=U1"])
    with pytest.raises(UsageError, match="no profile 'slow'"):
        task_overrides(load_plan(), load_plan().tables[0].tasks[0], "slow")


@pytest.mark.parametrize("profile", ["quick", "full"])
def test_every_planned_run_composes(profile: str) -> None:
    from medzoo.config import compose

    plan = load_plan()
    for table in plan.tables:
        for entry in table.get("tasks") or []:
            cfg = compose([f"task={entry.task}", *task_overrides(plan, entry, profile)])
            assert cfg.task.name == entry.task
