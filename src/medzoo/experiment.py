"""``python -m medzoo.experiment name=<experiment> profile=quick|full [resume=<dir>] [overrides]``.

An experiment is a table: rows (e.g. backbones) × columns (e.g. comparisons), each cell one
training run of a task with config overrides, read out at one metric and printed beside the
report's figure. Definitions live in ``configs/tables/experiments/<name>.yaml``. Finished cells are
recorded in ``cells.json`` as they complete, so ``resume=<experiment dir>`` reuses them
instead of training again.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from medzoo.commands import UsageError, split_arguments, user_errors
from medzoo.config import compose
from medzoo.paths import config_dir
from medzoo.profiles import Profile, choose_profile
from medzoo.reporting.report import ci_method, format_figure, lookup, markdown_table
from medzoo.rundir import RunDirectory
from medzoo.train import run_training

log = logging.getLogger("medzoo.experiment")


class ExperimentError(UsageError):
    """An experiment definition or resume folder that cannot be used; the message says why."""


@dataclass(frozen=True)
class Cell:
    row: str
    column: str
    replicate: str
    overrides: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.row}/{self.column}/{self.replicate}"


def experiment_names() -> list[str]:
    return sorted(p.stem for p in (config_dir() / "tables" / "experiments").glob("*.yaml"))


def load_experiment(name: str) -> DictConfig:
    path = config_dir() / "tables" / "experiments" / f"{name}.yaml"
    if not path.is_file():
        raise ExperimentError(f"unknown experiment {name!r}; available: {experiment_names()}")
    return OmegaConf.load(path)


def profile_of(experiment: DictConfig, profile: str) -> Profile:
    return choose_profile(
        experiment.profiles, profile, f"experiment {experiment.name!r}", ExperimentError
    )


def last_wins(*overrides: str) -> tuple[str, ...]:
    """``overrides`` without those a later one of the same key replaces: Hydra applies the last
    anyway, so the run is the same and its command states each setting once."""
    keys = [override.partition("=")[0] for override in overrides]
    return tuple(o for i, o in enumerate(overrides) if keys[i] not in keys[i + 1 :])


def plan_cells(experiment: DictConfig, profile: str, extra: Sequence[str] = ()) -> list[Cell]:
    """Every (row, column, replicate) run with its full override list, in table order."""
    chosen = profile_of(experiment, profile)
    cells = []
    for row in experiment.rows:
        for column in experiment.columns:
            for replicate in chosen.replicates():
                # Later overrides win: the replicate's seed (or fold) comes first, so a row or
                # column that sets its own (a table of seeds) keeps it; the command line's last.
                overrides = last_wins(
                    f"task={experiment.task}",
                    *replicate.overrides,
                    *column.overrides,
                    *row.overrides,
                    *chosen.overrides,
                    *chosen.column_overrides.get(column.key, ()),
                    *extra,
                )
                cells.append(Cell(row.key, column.key, replicate.key, overrides))
    return cells


def metrics_of(experiment: DictConfig) -> list[str]:
    """The metrics.json figures the table shows (``metrics`` list, or one ``metric``)."""
    return list(experiment.get("metrics") or [experiment.metric])


def _summarise(values: Sequence[Mapping]) -> str:
    """One run: value (95% CI); several: mean ± std over runs."""
    numbers = [v.get("value") for v in values if isinstance(v, Mapping)]
    numbers = [n for n in numbers if n is not None]
    if not numbers:
        return "n/a"
    if len(values) == 1:
        return format_figure(values[0])
    return f"{np.mean(numbers):.3f} ± {np.std(numbers, ddof=1):.3f} (n={len(numbers)} runs)"


def _reported(report: Mapping, column: str, metric: str, first: bool) -> str:
    """The report's figure for a column: a number (the first metric's) or {metric: number}."""
    value = report.get(column)
    if isinstance(value, Mapping):
        value = value.get(metric)
    elif not first:
        value = None
    return "—" if value is None else f"{value:g}"


def render_table(experiment: DictConfig, results: Mapping[str, Mapping], profile: str) -> str:
    """The report's table shape: one row per model, report and medzoo side by side per column
    (and per metric, where the experiment shows several)."""
    metrics = metrics_of(experiment)
    header = ["model"]
    for column in experiment.columns:
        for metric in metrics:
            name = column.label if len(metrics) == 1 else f"{column.label}, {metric}"
            header += [f"{name}: report", f"{name}: medzoo"]
    rows = []
    for row in experiment.rows:
        cells = [row.label]
        report = row.get("report") or {}
        for column in experiment.columns:
            runs = [e for k, e in results.items() if k.startswith(f"{row.key}/{column.key}/")]
            for position, metric in enumerate(metrics):
                cells.append(_reported(report, column.key, metric, position == 0))
                values = [lookup(entry["metrics"], metric) for entry in runs]
                cells.append(_summarise(values) if values else "not run")
        rows.append(tuple(cells))
    sources = "; ".join(f"{c.label}: {c.data}" for c in experiment.columns)
    note = profile_of(experiment, profile).note
    return "\n".join(
        [
            f"### {experiment.title} — profile `{profile}`",
            "",
            markdown_table(tuple(header), rows),
            "",
            f"medzoo figures: test {', '.join(metrics)}; one run: value (95% CI), "
            f"several: mean ± std over runs. Data: {sources}.",
            *dict.fromkeys(f"{ci_method(entry['metrics'])}." for entry in results.values()),
            *([f"Profile: {note}."] if note else []),
        ]
    )


def _open_or_create(resume: str | None, output_dir: str, name: str, folder: Path | None) -> Path:
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    if resume:
        folder = Path(resume).expanduser()
        if not (folder / "experiment.json").is_file():
            raise ExperimentError(
                f"{folder} is not an experiment folder (no experiment.json); pass the folder "
                "that an earlier `python -m medzoo.experiment` printed"
            )
        return folder
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    folder = Path(output_dir) / "experiments" / name / stamp
    folder.mkdir(parents=True)
    return folder


def run_experiment(
    name: str | DictConfig,
    profile: str = "quick",
    resume: str | None = None,
    output_dir: str = "outputs",
    extra: Sequence[str] = (),
    folder: Path | None = None,
) -> tuple[Path, str]:
    """Run (or finish) every cell and write ``table.md``; returns the folder and the table.

    ``name``: an experiment under ``configs/tables/experiments/``, or an experiment config itself.
    ``folder``: a fixed experiment folder, created or else resumed (instead of a new
    timestamped one, or ``resume``).
    """
    experiment = load_experiment(name) if isinstance(name, str) else name
    cells = plan_cells(experiment, profile, extra)
    folder = _open_or_create(resume, output_dir, experiment.name, folder)
    spec = {"name": experiment.name, "profile": profile, "extra": list(extra)}
    spec_file = folder / "experiment.json"
    if spec_file.is_file():
        saved = json.loads(spec_file.read_text())
        if saved != spec:
            raise ExperimentError(
                f"{folder} was started as {saved}; cannot resume it as {spec}. "
                "Start a new experiment instead."
            )
    else:
        spec_file.write_text(json.dumps(spec, indent=2) + "\n")
    record = folder / "cells.json"
    results: dict[str, dict] = json.loads(record.read_text()) if record.is_file() else {}
    for number, cell in enumerate(cells, start=1):
        if cell.key in results:
            reused = results[cell.key]["run"]
            log.info("[%d/%d] %s: reusing %s", number, len(cells), cell.key, reused)
            continue
        log.info("[%d/%d] %s: training", number, len(cells), cell.key)
        started = time.perf_counter()
        cfg = compose([*cell.overrides, f"output_dir={folder / 'runs'}"])
        command = "python -m medzoo.train " + " ".join(cell.overrides)
        run = run_training(cfg, command)
        results[cell.key] = {
            "run": str(run.path),
            "seconds": round(time.perf_counter() - started, 1),
            "metrics": RunDirectory.open(run.path).read_json("metrics.json"),
        }
        partial = record.with_suffix(".tmp")
        partial.write_text(json.dumps(results, indent=2) + "\n")
        partial.replace(record)
    table = render_table(experiment, results, profile)
    total = sum(entry["seconds"] for entry in results.values())
    (folder / "table.md").write_text(
        f"{table}\n\nTraining time, all cells: {total / 60:.1f} min.\n", encoding="utf-8"
    )
    return folder, table


USAGE = (
    "usage: python -m medzoo.experiment name=<experiment> [profile=quick|full] "
    "[resume=<folder>] [output_dir=outputs] [<override applied to every cell> ...]"
)
OPTIONS = ("name", "profile", "resume", "output_dir")


def parse_arguments(argv: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """``key=value`` options of the runner itself, and every other argument as a cell override."""
    try:
        options, extra = split_arguments(argv, OPTIONS, USAGE)
    except UsageError as err:
        raise ExperimentError(str(err)) from None
    if not options.get("name"):
        raise ExperimentError(f"{USAGE}; experiments: {experiment_names()}")
    return {"profile": "quick", "output_dir": "outputs", **options}, extra


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s")
    with user_errors():
        options, extra = parse_arguments(sys.argv[1:] if argv is None else argv)
        folder, table = run_experiment(
            options["name"], options["profile"], options.get("resume"), options["output_dir"], extra
        )
    print(f"\n{table}\n\nexperiment folder: {folder}")


if __name__ == "__main__":
    main()
