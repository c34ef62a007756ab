"""python -m medzoo.reproduce smoke=true: every task at its profile's sizes for a few batches,
each crash reported, and the profile's training cost projected from the measured steps."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from medzoo.commands import UsageError
from medzoo.dryrun import step_cost
from medzoo.reproduce import load_plan, main, smoke_test, task_overrides


def _plan() -> OmegaConf:
    phantom = ["data.params.n_per_class=12", "data.params.size=40", "metrics.n_bootstrap=20"]
    return OmegaConf.create(
        {
            "profiles": {
                "quick": {"note": "test", "overrides": [], "seeds": [0]},
                "full": {
                    "note": "test full",
                    "overrides": ["trainer.enable_progress_bar=false"],
                    "seeds": [0, 1, 2],
                },
            },
            "smoke": {
                "overrides": [
                    "trainer.max_epochs=1",
                    "trainer.limit_train_batches=4",
                    "++trainer.limit_val_batches=1",
                    "trainer.log_every_n_steps=1",
                ]
            },
            "tables": [
                {
                    "id": "U1",
                    "title": "Liver",
                    "tasks": [
                        {
                            "task": "liver_us",
                            "full": [
                                *phantom,
                                "data.image_size=40",
                                "data.batch_size=4",
                                "trainer.max_epochs=7",
                            ],
                        }
                    ],
                },
                {
                    "id": "U2",
                    "title": "A task whose full settings do not compose",
                    "tasks": [{"task": "phantom_us", "full": ["data.no_such_option=1"]}],
                },
            ],
        }
    )


def test_step_cost_skips_the_first_step() -> None:
    assert step_cost([0.0, 5.0, 6.0, 8.0]) == pytest.approx(1.5)  # intervals 1 and 2
    assert step_cost([0.0, 5.0]) is None


def test_a_dry_run_trains_at_the_profiles_sizes_and_projects_its_epochs(tmp_path: Path) -> None:
    output = tmp_path / "dry_run_full.md"
    with pytest.raises(UsageError, match="failed for phantom_us") as failure:
        smoke_test(None, "full", tmp_path / "out", output, "python -m medzoo.reproduce", _plan())
    assert str(output) in str(failure.value)  # the page is written before the error
    folder = tmp_path / "out" / "reproduce" / "full-smoke" / "liver_us"
    (cell,) = json.loads((folder / "cells.json").read_text()).values()
    ran = OmegaConf.load(Path(cell["run"]) / "config.yaml")
    assert ran.data.image_size == 40 and ran.trainer.max_epochs == 1
    times = json.loads((folder / "step_times.json").read_text())["step_wall_clock_s"]
    assert len(times) == 4 and times == sorted(times)  # one per training batch

    text = output.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| U1 | `liver_us`"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    items, epochs = (int(x) for x in cells[4].split(" × "))
    assert epochs == 7  # the profile's epochs, not the dry run's one
    manifest = pd.read_csv(Path(cell["run"]) / "manifest.csv")
    assert items == int((manifest["split"] == "train").sum()) > 0
    per_item = step_cost(times) / 4
    assert float(cells[5]) == pytest.approx(per_item, abs=1e-3)
    assert float(cells[7]) == pytest.approx(per_item * items * epochs * 3 / 3600, abs=0.006)
    failed = next(line for line in text.splitlines() if line.startswith("| U2 | `phantom_us`"))
    assert "failed:" in failed and "no_such_option" in failed
    assert "- medzoo commit:" in text and "calibration: resnet18 training" in text


def test_a_dry_run_refuses_publish() -> None:
    with pytest.raises(SystemExit, match="trains nothing to publish"):
        main(["smoke=true", "publish=true"])


def test_a_misspelt_yes_no_option_is_refused_not_read_as_no() -> None:
    with pytest.raises(SystemExit, match="give smoke=true or smoke=false"):
        main(["smoke=ture"])


def test_every_planned_dry_run_composes() -> None:
    from medzoo.config import compose

    plan = load_plan()
    for table in plan.tables:
        for entry in table.get("tasks") or []:
            cfg = compose(
                [
                    f"task={entry.task}",
                    *task_overrides(plan, entry, "full"),
                    *plan.smoke.overrides,
                    *(entry.get("smoke") or []),
                    "+logger.step_times._target_=medzoo.dryrun.StepTimes",
                    "+logger.step_times.path=x.json",
                ]
            )
            assert cfg.trainer.max_epochs == 1 and cfg.logger.step_times.path == "x.json"


def test_calibration_refuses_a_device_torch_cannot_see() -> None:
    import torch

    from medzoo.calibration import main as calibration

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(SystemExit, match="torch sees no CUDA device"):
        calibration(["device=cuda"])
    with pytest.raises(SystemExit, match="cannot read argument"):
        calibration(["gpu"])


@pytest.mark.parametrize(("table", "task"), [("E2", "uc_severity"), ("R1", "ct_hemorrhage")])
def test_the_full_profile_dry_run_of_a_real_task(
    table: str, task: str, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from medzoo.config import compose
    from medzoo.reproduce import chosen_tables

    monkeypatch.setenv("MEDZOO_DATA", str(shared_data))
    plan = load_plan()
    output = tmp_path / "dry_run_full.md"
    smoke_test(table, "full", tmp_path / "out", output, "python -m medzoo.reproduce", plan)
    (entry,) = chosen_tables(plan, table)[0].tasks
    full = compose([f"task={task}", *task_overrides(plan, entry, "full")])
    folder = tmp_path / "out" / "reproduce" / "full-smoke" / task
    (cell,) = json.loads((folder / "cells.json").read_text()).values()
    ran = OmegaConf.load(Path(cell["run"]) / "config.yaml")
    assert ran.data.image_size == full.data.image_size > 160  # the full profile's size
    assert ran.trainer.max_epochs == 1 < full.trainer.max_epochs
    tested = int((pd.read_csv(Path(cell["run"]) / "manifest.csv")["split"] == "test").sum())
    assert json.loads((Path(cell["run"]) / "metrics.json").read_text())["n"] == tested
    row = next(line for line in output.read_text().splitlines() if f"`{task}`" in line)
    assert "failed" not in row and float(row.strip("|").split("|")[-1]) > 0
