"""``python -m medzoo.reproduce profile=full smoke=true [table=<id>] [output_dir=outputs]
[output=docs/dry_run_full.md]``: every task of a profile at that profile's sizes for a few
training batches and a whole evaluation, so that the crash a long run would meet after hours
shows in minutes, and what the whole profile would cost, projected from the per-image costs
the dry run measured.

Each task runs its first seed once, with the plan's ``smoke`` overrides (and a task's own, e.g.
one detector epoch) after the profile's, in ``<output_dir>/reproduce/<profile>-smoke/<task>/``.
A task that fails is reported and the others still run; the command then exits non-zero.

The projection is of training only. Lightning training: a logger (``StepTimes``) keeps the
wall clock of every training step; the median step after the first (which pays for warm-up),
over the batch size, is the cost of one training item at the profile's sizes; times the items
of one epoch (training images, times ``data.crops_per_image`` where a task trains on crops),
the profile's epochs and its seeds. A detector trained by ultralytics adds its one measured
epoch (training and validation) times its epochs and seeds. Evaluation is not projected.
"""

from __future__ import annotations

import csv
import itertools
import json
import logging
import statistics
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from medzoo.calibration import Calibration, measure
from medzoo.config import compose

log = logging.getLogger("medzoo.dryrun")

STEP_TIMES = "step_times.json"


class StepTimes(Logger):
    """A Lightning logger that keeps the wall clock of every logged training step (with
    ``trainer.log_every_n_steps=1``: every step) and writes them to ``path``."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = Path(path)
        self._times: list[float] = []

    @property
    def name(self) -> str:
        return "step_times"

    @property
    def version(self) -> int:
        return 0

    def log_hyperparams(self, params: object, *args: object, **kwargs: object) -> None:
        pass

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        if any(key.startswith("train") and key.endswith("_step") for key in metrics):
            self._times.append(time.perf_counter())
            self.save()

    def save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.write_text(json.dumps({"step_wall_clock_s": self._times}) + "\n")


def step_cost(times: Sequence[float]) -> float | None:
    """Seconds per training step: the median interval between steps after the first, which
    pays for warm-up (None with fewer than three steps)."""
    intervals = [b - a for a, b in itertools.pairwise(times[1:])]
    return statistics.median(intervals) if intervals else None


def detector_epoch_seconds(run: Path) -> float | None:
    """The first epoch's time of a detector trained by ultralytics in ``run`` (its
    ``results.csv``, column ``time``), else None."""
    for results in sorted(run.glob("**/results.csv")):
        with results.open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, skipinitialspace=True))
        if rows and "time" in rows[0]:
            return float(rows[0]["time"])
    return None


@dataclass(frozen=True)
class Projection:
    """One task's dry run and the cost of its whole profile on the same machine."""

    table: str
    task: str
    dry_run_s: float
    image_size: int
    items_per_epoch: int
    epochs: int
    seeds: int
    item_s: float | None = None  # one training item, Lightning training
    detector_epoch_s: float | None = None
    detector_epochs: int = 0
    error: str = ""

    @property
    def hours(self) -> float | None:
        """Projected training hours, every seed; None where no training step was timed (a
        head that trains outside Lightning and ultralytics)."""
        if self.item_s is None and self.detector_epoch_s is None:
            return None
        lightning = (self.item_s or 0.0) * self.items_per_epoch * self.epochs
        detector = (self.detector_epoch_s or 0.0) * self.detector_epochs
        return (lightning + detector) * self.seeds / 3600


def project(
    table: str,
    task: str,
    run: Path,
    dry_run_s: float,
    full: DictConfig,
    seeds: int,
    times: Sequence[float],
) -> Projection:
    """The projection of one finished dry run ``run``; ``full``: the task's config under the
    profile without the dry run's overrides (its real epochs)."""
    ran = OmegaConf.load(run / "config.yaml")
    listed = run / "manifest.csv"  # every image head writes one; a text task has none
    train = (
        int((pd.read_csv(listed, usecols=["split"])["split"] == "train").sum())
        if listed.is_file()
        else 0
    )
    crops = int(OmegaConf.select(ran, "data.crops_per_image", default=1) or 1)
    batch = OmegaConf.select(ran, "data.batch_size", default=None)
    cost = step_cost(times)
    return Projection(
        table=table,
        task=task,
        dry_run_s=dry_run_s,
        image_size=int(OmegaConf.select(ran, "data.image_size", default=0) or 0),
        items_per_epoch=train * crops,
        epochs=int(full.trainer.max_epochs),
        seeds=seeds,
        item_s=None if cost is None or not batch else cost / int(batch),
        detector_epoch_s=detector_epoch_seconds(run),
        detector_epochs=int(OmegaConf.select(full, "head.detector.epochs", default=0) or 0),
    )


def dry_run(
    plan: DictConfig, tables: Sequence[DictConfig], profile: str, output_dir: str | Path
) -> list[Projection]:
    """Every task of ``tables`` once (its profile's first seed) with the plan's ``smoke``
    overrides; a task that fails is kept as a row with its error."""
    from medzoo.reproduce import (
        finished_runs,
        plan_profile,
        run_task,
        task_entries,
        task_folder,
        task_overrides,
    )

    chosen = plan_profile(plan, profile)
    smoke = plan.get("smoke") or {}
    projections = []
    for table, entry in task_entries(tables):
        folder = task_folder(output_dir, f"{profile}-smoke", entry.task)
        timing = folder / STEP_TIMES
        extra = [
            *(smoke.get("overrides") or []),
            *(entry.get("smoke") or []),
            f"+logger.step_times._target_={StepTimes.__module__}.{StepTimes.__name__}",
            f"+logger.step_times.path={timing}",
        ]
        log.info("dry run, table %s: task %s", table.id, entry.task)
        started = time.perf_counter()
        try:
            run_task(plan, entry, profile, output_dir, chosen.seeds[:1], extra, folder)
            cell = finished_runs(folder)[0]
            times = json.loads(timing.read_text())["step_wall_clock_s"] if timing.is_file() else []
            # the profile's own settings, not the run's: the smoke overrides cut its epochs
            full = compose([f"task={entry.task}", *task_overrides(plan, entry, profile)])
            projections.append(
                project(
                    str(table.id),
                    entry.task,
                    Path(cell["run"]),
                    float(cell["seconds"]),
                    full,
                    len(chosen.seeds),
                    times,
                )
            )
        except Exception as err:  # every task's crash is the finding: run the rest
            log.error("dry run of %s failed:\n%s", entry.task, traceback.format_exc())
            projections.append(
                Projection(
                    table=str(table.id),
                    task=entry.task,
                    dry_run_s=time.perf_counter() - started,
                    image_size=0,
                    items_per_epoch=0,
                    epochs=0,
                    seeds=len(chosen.seeds),
                    error=f"{type(err).__name__}: {err}".splitlines()[0][:200],
                )
            )
    return projections


def _seconds(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def render(
    projections: Sequence[Projection],
    profile: str,
    header: Sequence[str],
    calibration: Calibration,
    note: str,
) -> str:
    """The dry run's page: one row per task, the projected hours per table, how to scale them
    to another machine."""
    rows = []
    for p in projections:
        if p.error:
            rows.append(
                f"| {p.table} | `{p.task}` | {p.dry_run_s:.0f} | failed: {p.error} | | | | |"
            )
            continue
        detector = (
            f"{p.detector_epoch_s:.0f} s × {p.detector_epochs}" if p.detector_epoch_s else "—"
        )
        rows.append(
            f"| {p.table} | `{p.task}` | {p.dry_run_s:.0f} | {p.image_size or '—'} | "
            f"{p.items_per_epoch} × {p.epochs} | {_seconds(p.item_s)} | {detector} | "
            + ("not timed" if p.hours is None else f"{p.hours:.2f}")
            + " |"
        )
    by_table: dict[str, float] = {}
    for p in projections:
        if p.hours is not None:
            by_table[p.table] = by_table.get(p.table, 0.0) + p.hours
    failed = [p.task for p in projections if p.error]
    untimed = [p.task for p in projections if p.hours is None and not p.error]
    seeds = max((p.seeds for p in projections), default=0)
    lines = [
        f"# Dry run of the `{profile}` profile",
        "",
        *header,
        "",
        f"Profile `{profile}`: {note}.",
        "",
        "Every task below ran at this profile's sizes for a few training batches (the plan's "
        "`smoke` overrides: configs/tables/reproduce.yaml) and a whole evaluation of its test "
        "split. Projected hours are of training only, for every seed of the profile "
        f"({seeds}), on the machine above: one training item's measured cost × items per "
        "epoch × epochs, plus a detector's measured epoch × its epochs. They are upper bounds "
        "where a detector stops early (ultralytics' patience).",
        "",
        "| table | task | dry run (s) | input px | training items × epochs | s per item | "
        "detector epoch × epochs | projected training hours |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "Projected hours per table: "
        + "; ".join(f"{table} {hours:.2f} h" for table, hours in by_table.items())
        + f"; all tables {sum(by_table.values()):.1f} h"
        + (f" (not timed: {', '.join(untimed)})." if untimed else "."),
        "",
        f"This machine's {calibration.line()}. On another machine the hours scale, to a first "
        "approximation, by the ratio of the two calibration figures: on a GPU, "
        "`python -m medzoo.calibration device=cuda` gives its figure, and the GPU hours are "
        "about the hours above × this machine's figure ÷ the GPU's. Depthwise convolutions "
        "(EfficientNet-Lite) and data loading scale worse than the calibration's resnet18, so "
        "treat the result as a lower bound.",
        "",
    ]
    if failed:
        lines += [f"Failed: {', '.join(failed)} (the command's log has each trace).", ""]
    return "\n".join(lines)


def write_dry_run(
    plan: DictConfig,
    tables: Sequence[DictConfig],
    profile: str,
    output_dir: str | Path,
    output: str | Path,
    command: str,
) -> tuple[Path, list[Projection]]:
    """Run the dry run of ``tables`` and write its page to ``output``."""
    from medzoo.reproduce import header, plan_profile

    chosen = plan_profile(plan, profile)
    started = time.perf_counter()
    calibration = measure()  # before any training: nothing of medzoo's competes for the cores
    projections = dry_run(plan, tables, profile, output_dir)
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    page = render(projections, profile, header(command, started), calibration, chosen.note)
    target.write_text(page, "utf-8")
    return target, projections
