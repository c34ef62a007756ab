"""``python -m medzoo.reproduce [table=<id>] [profile=quick|full] [output_dir=outputs]
[output=REPRODUCTION.md] [publish=true] [smoke=true]``: every table of the source report, rerun
on public stand-in data; ``publish=true`` then puts each task's best seed (by the validation
figure its checkpoint was chosen by, never a test figure) into the local zoo
(``medzoo.publish``). ``smoke=true`` is a dry run of the profile instead (``medzoo.dryrun``):
every task at the profile's sizes for a few batches, and the profile's cost projected from
what they measured, written to ``docs/dry_run_<profile>.md``.

``configs/tables/reproduce.yaml`` lists the report's tables in order: the tasks that reproduce
each one, with the overrides that shrink them to the quick profile, or the reason nothing is
trained.
Each task trains once per seed as a one-cell experiment (``medzoo.experiment``) in
``<output_dir>/reproduce/<profile>/<task>/``, so a finished run is reused, never retrained, when
the command runs again. ``REPRODUCTION.md`` is rendered from every finished run there: per
table, the report's figures beside medzoo's mean ± std over seeds with each seed's 95%
bootstrap CI, the stand-in dataset and its licence.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from medzoo.commands import UsageError, flag, key_values, user_errors
from medzoo.environment import code_version, machine_description
from medzoo.experiment import run_experiment
from medzoo.heads import checkpoint_of
from medzoo.paths import config_dir
from medzoo.profiles import Profile, choose_profile
from medzoo.publish import publish, read_checkpoint, validation_score
from medzoo.reporting.report import ci_method, lookup, markdown_table
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import TaskCard, get_card

log = logging.getLogger("medzoo.reproduce")

PLAN = "configs/tables/reproduce.yaml"


def load_plan() -> DictConfig:
    return OmegaConf.load(config_dir() / "tables" / "reproduce.yaml")


def table_ids(plan: DictConfig) -> list[str]:
    return [str(table.id) for table in plan.tables]


def chosen_tables(plan: DictConfig, table: str | None) -> list[DictConfig]:
    if table is None:
        return list(plan.tables)
    chosen = [t for t in plan.tables if str(t.id) == table]
    if not chosen:
        raise UsageError(f"unknown table {table!r}; tables: {', '.join(table_ids(plan))}")
    return chosen


def plan_profile(plan: DictConfig, profile: str) -> Profile:
    return choose_profile(plan.profiles, profile, PLAN)


def task_overrides(plan: DictConfig, entry: DictConfig, profile: str) -> list[str]:
    """Every override of one task's runs: the profile's, then the task's own for it."""
    return [*plan_profile(plan, profile).overrides, *(entry.get(profile) or [])]


def task_experiment(task: str, seeds: Sequence[int], profile: str) -> DictConfig:
    """A one-cell experiment: the task at its defaults, once per seed."""
    card = get_card(task)
    return OmegaConf.create(
        {
            "name": task,
            "title": card.title,
            "section": card.section,
            "task": task,
            "metric": card.reference[0].metric if card.reference else "n",
            "rows": [{"key": "medzoo", "label": "medzoo", "overrides": []}],
            "columns": [{"key": "test", "label": "test", "data": card.stand_in, "overrides": []}],
            "profiles": {profile: {"seeds": list(seeds)}},
        }
    )


def task_folder(output_dir: str | Path, profile: str, task: str) -> Path:
    return Path(output_dir) / "reproduce" / profile / task


def finished_runs(folder: Path) -> list[dict]:
    """The finished seeds of one task (``cells.json`` of its experiment), in seed order."""
    record = folder / "cells.json"
    if not record.is_file():
        return []
    cells = json.loads(record.read_text(encoding="utf-8"))
    return [cells[key] for key in sorted(cells)]


def task_entries(tables: Sequence[DictConfig]) -> Iterator[tuple[DictConfig, DictConfig]]:
    """Every (table, task entry) of ``tables``, in the plan's order."""
    for table in tables:
        for entry in table.get("tasks") or []:
            yield table, entry


def run_task(
    plan: DictConfig,
    entry: DictConfig,
    profile: str,
    output_dir: str | Path,
    seeds: Sequence[int] | None = None,
    extra: Sequence[str] = (),
    folder: Path | None = None,
) -> Path:
    """Train the seeds of one task (default: the profile's) that have not finished yet, with
    the profile's and the task's overrides and then ``extra``; returns the task's folder."""
    folder = folder if folder is not None else task_folder(output_dir, profile, entry.task)
    seeds = list(plan_profile(plan, profile).seeds if seeds is None else seeds)
    run_experiment(
        task_experiment(entry.task, seeds, profile),
        profile,
        output_dir=str(output_dir),
        extra=[*task_overrides(plan, entry, profile), *extra],
        folder=folder,
    )
    return folder


def run_tables(
    plan: DictConfig, tables: Sequence[DictConfig], profile: str, output_dir: str | Path
) -> None:
    """Train every seed of every task of ``tables`` that has not finished yet."""
    for table, entry in task_entries(tables):
        log.info("table %s: task %s", table.id, entry.task)
        run_task(plan, entry, profile, output_dir)


def publish_best_seeds(
    plan: DictConfig, tables: Sequence[DictConfig], profile: str, output_dir: str | Path
) -> list[Path]:
    """Each task's finished seed with the best validation score, published to the local zoo."""
    published = []
    for table, entry in task_entries(tables):
        scored = []
        for cell in finished_runs(task_folder(output_dir, profile, entry.task)):
            run = RunDirectory.open(cell["run"])
            try:
                score = validation_score(read_checkpoint(checkpoint_of(run)))
            except FileNotFoundError:  # a head without a checkpoint (text, detection)
                score = None
            if score is not None:
                scored.append((score["value"], cell["run"]))
        if not scored:
            log.info("table %s: task %s has no run a release can hold", table.id, entry.task)
            continue
        best = max(scored)[1]
        published.append(publish(best, zoo=True))
        log.info("table %s: task %s, published %s", table.id, entry.task, best)
    return published


def _value(figure: object) -> float | None:
    if isinstance(figure, Mapping):
        figure = figure.get("value")
    if isinstance(figure, (int, float)) and not isinstance(figure, bool):
        return float(figure) if np.isfinite(figure) else None
    return None


def _interval(figure: object) -> str:
    if isinstance(figure, Mapping) and figure.get("ci95") and None not in figure["ci95"]:
        lo, hi = figure["ci95"]
        return f"{lo:.3f}–{hi:.3f}"
    return "—"


def figure_rows(card: TaskCard, runs: Sequence[Mapping]) -> list[tuple[str, ...]]:
    """One row per reference figure: report, mean ± std over seeds, each seed's CI."""
    rows = []
    for ref in card.reference:
        reported = " / ".join(f"{v:g}" for v in ref.report) or "not reported"
        if ref.note:
            reported += f" ({ref.note})"
        if not ref.metric:
            rows.append((ref.label, reported, "no public data", "—"))
            continue
        figures = [lookup(run["metrics"], ref.metric) for run in runs]
        values = [v for v in (_value(f) for f in figures) if v is not None]
        if not values:
            ours = "undefined"
        elif len(values) == 1:
            ours = f"{values[0]:.3f} (1 seed)"
        else:
            ours = f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"
        rows.append((ref.label, reported, ours, "; ".join(_interval(f) for f in figures)))
    return rows


def docs_page(task: str) -> str | None:
    """The page under docs/tasks/ with the task's run at its own defaults (a source checkout
    only): ``<task>.md``, else the first page that names the task."""
    folder = config_dir().parent / "docs" / "tasks"
    if (folder / f"{task}.md").is_file():
        return f"docs/tasks/{task}.md"
    for page in sorted(folder.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        if f"`{task}`" in text or f"task={task}" in text:
            return f"docs/tasks/{page.name}"
    return None


def task_section(card: TaskCard, runs: Sequence[Mapping], command: str) -> list[str]:
    lines = [f"### `{card.name}` — {card.title}", ""]
    lines += [f"- stand-in data: {card.stand_in}", f"- licence: {card.licence}"]
    page = docs_page(card.name)
    if page:
        lines.append(
            f"- the task at its own defaults (larger inputs, more epochs): [{page}]({page})"
        )
    if not runs:
        return [*lines, "", f"Not run yet: `{command}`.", ""]
    seconds = sum(run["seconds"] for run in runs)
    n = runs[0]["metrics"].get("n", "n/a")
    lines += [
        f"- runs: {len(runs)} seed(s), {seconds / 60:.1f} min of training and evaluation in "
        f"all; test set {n}",
        "",
    ]
    if card.reference:
        header = (
            "figure",
            f"report ({card.section}, private data)",
            f"medzoo, mean ± std over {len(runs)} seeds",
            "95% CI, each seed",
        )
        method = ci_method(runs[0]["metrics"])
        lines += [markdown_table(header, figure_rows(card, runs)), "", f"{method}.", ""]
    else:
        lines += ["The report gives no figures for this task; see each run's report.md.", ""]
    return lines


def _total_minutes(plan: DictConfig, profile: str, output_dir: str | Path) -> float:
    seconds = [
        run["seconds"]
        for _, entry in task_entries(plan.tables)
        for run in finished_runs(task_folder(output_dir, profile, entry.task))
    ]
    return sum(seconds) / 60


def render(
    plan: DictConfig, profile: str, output_dir: str | Path, header: Sequence[str] = ()
) -> str:
    """REPRODUCTION.md from every finished run under ``output_dir`` (all tables, always)."""
    chosen = plan_profile(plan, profile)
    lines = [
        "# Reproduction of the report's tables on public stand-in data",
        "",
        *header,
        "",
        f"Profile `{profile}`: {chosen.note}.",
        "",
        f"Training and evaluation of every run below: "
        f"{_total_minutes(plan, profile, output_dir):.1f} min in all.",
        "",
        "Each task trains once per seed (seeds "
        + ", ".join(str(s) for s in chosen.seeds)
        + "); figures are on the task's test split. Every run's folder holds its "
        "report.md and model_card.md. The report's data are private: its figures and medzoo's "
        "come from different data and are set side by side, not compared as equals.",
        "",
    ]
    for table in plan.tables:
        lines += [f"## {table.id} — {table.title}", ""]
        if table.get("no_run"):
            lines += [f"{table.no_run}.", ""]
            continue
        for entry in table.tasks:
            runs = finished_runs(task_folder(output_dir, profile, entry.task))
            command = f"python -m medzoo.reproduce table={table.id} profile={profile}"
            lines += task_section(get_card(entry.task), runs, command)
        if table.get("also"):
            lines += [f"{table.also}.", ""]
    return "\n".join(lines).rstrip() + "\n"


def machine() -> str:
    """What runs report (``pipeline.machine_description``), plus cores and Python."""
    return (
        f"{machine_description()}; {os.cpu_count()} CPU cores, Python {platform.python_version()}"
    )


def header(command: str, started: float, reused: bool = False) -> list[str]:
    """The lines that open a page this command writes: the command, the machine, the commit,
    and the minutes since ``started`` (``time.perf_counter()``)."""
    minutes = (time.perf_counter() - started) / 60
    return [
        f"- command: `{command}`",
        f"- machine: {machine()}",
        f"- medzoo commit: {(code_version()['commit'] or 'unknown')[:7]}; "
        f"written {datetime.now():%Y-%m-%d %H:%M}",
        f"- this invocation: {minutes:.1f} min"
        + (
            " (finished runs found in the output folder were reused, not retrained)"
            if reused
            else ""
        ),
    ]


def reproduce(
    table: str | None = None,
    profile: str = "quick",
    output_dir: str | Path = "outputs",
    output: str | Path = "REPRODUCTION.md",
    command: str = "python -m medzoo.reproduce",
    plan: DictConfig | None = None,
    publish_to_zoo: bool = False,
) -> Path:
    """Run what is missing for ``table`` (or every table), then write ``output``.

    ``plan``: the tables, seeds and profiles (default: ``configs/tables/reproduce.yaml``)."""
    plan = plan if plan is not None else load_plan()
    plan_profile(plan, profile)  # an unknown profile stops here, before any training
    tables = chosen_tables(plan, table)
    started = time.perf_counter()
    run_tables(plan, tables, profile, output_dir)
    if publish_to_zoo:
        publish_best_seeds(plan, tables, profile, output_dir)
    text = render(plan, profile, output_dir, header(command, started, reused=True))
    target = Path(output)
    target.write_text(text, encoding="utf-8")
    copy = Path(output_dir) / "reproduce" / profile / "REPRODUCTION.md"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(text, "utf-8")
    return target


USAGE = (
    "usage: python -m medzoo.reproduce [table=<id>] [profile=quick|full] [output_dir=outputs] "
    "[output=REPRODUCTION.md] [publish=true] [smoke=true]"
)
OPTIONS = ("table", "profile", "output_dir", "output", "publish", "smoke")


def smoke_test(
    table: str | None,
    profile: str,
    output_dir: str | Path,
    output: str | Path | None,
    command: str,
    plan: DictConfig | None = None,
) -> Path:
    """The dry run of ``profile`` (``medzoo.dryrun``); raises once its page is written when a
    task failed."""
    from medzoo.dryrun import write_dry_run

    plan = plan if plan is not None else load_plan()
    plan_profile(plan, profile)
    target, projections = write_dry_run(
        plan,
        chosen_tables(plan, table),
        profile,
        output_dir,
        output or Path("docs") / f"dry_run_{profile}.md",
        command,
    )
    failed = [p.task for p in projections if p.error]
    if failed:
        raise UsageError(
            f"the dry run of profile {profile!r} failed for {', '.join(failed)}: {target} "
            "lists each error; the log above has the traces"
        )
    return target


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s] %(message)s")
    arguments = list(sys.argv[1:] if argv is None else argv)
    with user_errors():
        options = key_values(arguments, OPTIONS, USAGE)
        command = " ".join(["python -m medzoo.reproduce", *arguments])
        if flag(options, "smoke", USAGE):
            if flag(options, "publish", USAGE):
                raise UsageError("a dry run (smoke=true) trains nothing to publish; drop one")
            target = smoke_test(
                options.get("table"),
                options.get("profile", "full"),
                options.get("output_dir", "outputs"),
                options.get("output"),
                command,
            )
            print(f"written: {target}")
            return
        target = reproduce(
            options.get("table"),
            options.get("profile", "quick"),
            options.get("output_dir", "outputs"),
            options.get("output", "REPRODUCTION.md"),
            command,
            publish_to_zoo=flag(options, "publish", USAGE),
        )
    print(f"written: {target}")


if __name__ == "__main__":
    main()
