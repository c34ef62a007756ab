"""``python -m medzoo.results record|render|check``: documented figures that come from runs.

A **record** (``results/<task>/<name>.json``) keeps one finished run's figures with what made
them: the command, the medzoo commit it ran at, the machine, the wall time and the run's
``metrics.json``. A record of a run's clip evaluation adds it: this command runs
``medzoo.evaluate_clips`` itself, so that the code it runs is a known commit. An experiment's
record (``results/<experiment>/<profile>.json``) keeps every cell's figures the same way, and
renders as the experiment's table. Pages (README.md, docs/**/*.md) show records between
markers::

    <!-- results fundus_diseases/default -->
    (rendered: never edit by hand)
    <!-- /results -->

``table=all`` after the name shows every figure of the head instead of the report's side by
side; ``table=headline`` the report's side by side without the rows medzoo has no data for.
Several experiment records whose rows are replicates (``summary: mean_over_rows``) joined by
commas with ``table=seeds`` make one summary: a row each, its first figure's mean ± sd.
Several names joined by commas with ``figures=<path>,…`` compare the records in one table,
a row each (e.g. one run re-evaluated under several test shifts).
``render`` rewrites every marked block from its record; ``check`` fails when a page differs
from what its records render, and flags records made at a commit whose training code
(``src/medzoo`` and ``configs`` but the commands no training run imports, ``COMMANDS``,
unless the record ran them) was changed or removed since: their figures are stale until the
command is rerun and recorded again. Of the configs with a file per option (``task/``,
``data/``, ``model/``, ``tables/experiments/``) only those the record's runs composed count.
Files added since do not flag a record: what an existing command runs changes only when a file
it already used changes.

    python -m medzoo.results record run=<run dir> [name=default] [results=results]
    python -m medzoo.results record experiment=<experiment dir> [name=<profile>] [results=…]
    python -m medzoo.results record run=<run dir> name=<name> evaluate_clips [clips=70 …]
    python -m medzoo.results record run=<run dir> name=<name> label=<text> evaluate [test_shift=…]
    python -m medzoo.results render [results=results]
    python -m medzoo.results check [results=results]
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from medzoo.calibration import Calibration, measure
from medzoo.commands import UsageError, split_arguments, user_errors
from medzoo.config import compose
from medzoo.environment import code_version
from medzoo.evaluate import run_evaluation
from medzoo.evaluate_clips import evaluate_clips
from medzoo.experiment import OPTIONS as EXPERIMENT_OPTIONS
from medzoo.experiment import (
    _summarise,
    load_experiment,
    metrics_of,
    plan_cells,
    render_table,
)
from medzoo.heads import head_of
from medzoo.paths import config_dir
from medzoo.reporting.report import ci_method, format_figure, lookup, markdown_table, side_by_side
from medzoo.rundir import RunDirectory
from medzoo.tasks import get_card

BLOCK = re.compile(
    r"(?P<open><!-- results (?P<key>[\w.-]+/[\w.-]+(?:,[\w.-]+/[\w.-]+)*)(?P<options>[^>]*?) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- /results -->)",
    re.DOTALL,
)
# Modules no training run imports: the commands that start trainings (experiment, reproduce,
# profiles) or read finished ones (record, re-evaluate, predict, export, explain), and their
# configs. tests/test_results.py checks that no other module imports them, so a run's figures
# depend on the rest, the *core*, and on the commands it ran itself: a change anywhere else
# leaves them as they were. This module only lays figures out: a change here shows as pages
# that differ from their records.
COMMANDS = (
    "results",
    "calibration",
    "evaluate",
    "evaluate_clips",
    "predict",
    "export",
    "explain",
    "anonymize",
    "experiment",
    "reproduce",
    "dryrun",
    "profiles",
    "publish",
)
COMMAND_PACKAGES = ("video",)
COMMAND_CONFIGS = (
    "evaluate.yaml",
    "evaluate_clips.yaml",
    "predict.yaml",
    "anonymize.yaml",
    # the table files, apart: an experiment reads its own file, never the reproduction plan
    "tables/reproduce.yaml",
    "tables/experiments",
)


def code_of(uses: Sequence[str] = ()) -> tuple[str, ...]:
    """The git pathspecs a record's figures depend on: the core (``src/medzoo`` and ``configs``
    but ``COMMANDS``) and the commands in ``uses`` (e.g. ``src/medzoo/evaluate_clips.py``)."""
    commands = [
        *(f"src/medzoo/{name}.py" for name in COMMANDS),
        *(f"src/medzoo/{name}" for name in COMMAND_PACKAGES),
        *(f"configs/{name}" for name in COMMAND_CONFIGS),
    ]
    return ("src/medzoo", "configs", *(f":(exclude){p}" for p in commands if p not in uses))


TRAINING_CODE = code_of()
EXPERIMENT_CODE = code_of(
    ("src/medzoo/experiment.py", "src/medzoo/profiles.py", "configs/tables/experiments")
)
CLIPS_CODE = code_of(
    ("src/medzoo/evaluate_clips.py", "src/medzoo/video", "configs/evaluate_clips.yaml")
)
EVALUATE_CODE = code_of(("src/medzoo/evaluate.py", "configs/evaluate.yaml"))
EVALUATIONS = {"evaluate_clips": CLIPS_CODE, "evaluate": EVALUATE_CODE}
REPRODUCTION_CODE = code_of(
    (
        "src/medzoo/reproduce.py",
        "src/medzoo/dryrun.py",
        "src/medzoo/experiment.py",
        "src/medzoo/profiles.py",
        "configs/tables/reproduce.yaml",
        "configs/tables/experiments",
    )
)


# Config groups with one file per option (configs/<group>/<option>.yaml): a run composes one
# option of each, plus the files that option extends through its own defaults list. Another
# option's file (another task's card, another dataset's sizes) cannot reach its figures, so a
# change there leaves the record as it was; so does another experiment's definition.
OPTION_GROUPS = ("task", "data", "model")
EXPERIMENTS = "configs/tables/experiments"
# Head packages (src/medzoo/heads/<name>) that only the registry and the commands import: a
# task of another head never runs their code, so a change there leaves its record as it was.
# Classification is not one: the other heads build on it. tests/test_results.py checks that
# no other core module imports these.
LEAF_HEADS = ("detection", "items", "ordinal", "segmentation", "text")


def heads_used(options: set[tuple[str, str]], root: Path) -> set[str] | None:
    """The heads of the task options among ``options`` (their cards in the checkout); None
    when a card cannot be read (removed since: its option counts as changed anyway)."""
    heads = set()
    for group, option in options:
        if group != "task":
            continue
        path = root / "configs" / "task" / f"{option}.yaml"
        try:
            heads.add(str(OmegaConf.load(path).task.head))
        except Exception:  # a missing or unreadable card: no head can be left out
            return None
    return heads


def code_of_record(record: dict, root: Path | None = None) -> tuple[str, ...]:
    """The pathspecs a record's figures depend on: the core and the commands it ran
    (``code_of``), less, where ``root`` is given and its runs' options can be composed (else
    everything counts), the config options its runs did not compose and the leaf heads
    (``LEAF_HEADS``) its tasks do not have."""
    if "experiment" in record:
        code = EXPERIMENT_CODE
    elif "evaluation" in record:
        code = EVALUATIONS[record["evaluation"].get("kind", "evaluate_clips")]
    else:
        code = TRAINING_CODE
    used = options_used(record) if root is not None else None
    if used is None:
        return code
    unused = [
        path
        for path in config_files(record["commit"], root)
        if _option(path) is not None and _option(path) not in used
    ]
    heads = heads_used(used, root)
    if heads is not None:
        unused += [f"src/medzoo/heads/{head}" for head in LEAF_HEADS if head not in heads]
    return (*code, *(f":(exclude){path}" for path in unused))


def _option(path: str) -> tuple[str, str] | None:
    """(group, option) of a per-option config file, e.g. ("task", "mitosis"); or None."""
    parts = Path(path).parts
    if len(parts) == 3 and parts[0] == "configs" and parts[1] in OPTION_GROUPS:
        return parts[1], Path(parts[2]).stem
    if len(parts) == 4 and "/".join(parts[:3]) == EXPERIMENTS:
        return "experiment", Path(parts[3]).stem
    return None


def config_files(commit: str, root: Path) -> list[str]:
    """Per-option config files in the checkout or at ``commit`` (one removed since is
    another option too)."""
    folders = [f"configs/{group}" for group in OPTION_GROUPS] + [EXPERIMENTS]
    files = {
        path.relative_to(root).as_posix()
        for folder in folders
        for path in (root / folder).glob("*.yaml")
    }
    try:
        listed = subprocess.run(
            ["git", "ls-tree", "-r", "--name-only", commit, "--", *folders],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        listed = None
    if listed is not None and listed.returncode == 0:
        files.update(line for line in listed.stdout.splitlines() if line.endswith(".yaml"))
    return sorted(files)


def options_used(record: dict) -> set[tuple[str, str]] | None:
    """The (group, option) config files a record's runs composed, from its command; None when
    they cannot be told (a command line that no longer composes, an unknown experiment)."""
    try:
        words = shlex.split(record["command"])  # python -m medzoo.<command> <arguments>
        arguments = words[words.index("-m") + 2 :]
        if "experiment" in record:
            experiment = load_experiment(record["experiment"])
            extra = [w for w in arguments if w.split("=")[0] not in EXPERIMENT_OPTIONS]
            runs = [cell.overrides for cell in plan_cells(experiment, record["profile"], extra)]
            used = {("experiment", record["experiment"])}
        else:
            runs, used = [arguments], set()
        for overrides in {tuple(o for o in run if _chooses(o)) for run in runs}:
            used |= _composed_options(overrides)
    except Exception:  # anything that keeps the options from being told: count them all
        return None
    return used


def _chooses(override: str) -> bool:
    """Whether an override can choose a config option (``task=…``, ``model=…``, ``+data=…``)."""
    key = override.split("=", 1)[0].lstrip("+~")
    return "=" in override and key in OPTION_GROUPS


def _composed_options(overrides: Sequence[str]) -> set[tuple[str, str]]:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = hydra_compose("config", overrides=list(overrides), return_hydra_config=True)
    chosen = cfg.hydra.runtime.choices
    used: set[tuple[str, str]] = set()
    pending = [(group, chosen[group]) for group in OPTION_GROUPS if chosen.get(group)]
    while pending:  # an option's own defaults list may extend a sibling (busi_boxes → busi)
        group, option = pending.pop()
        if (group, option) in used:
            continue
        used.add((group, option))
        raw = OmegaConf.load(config_dir() / group / f"{option}.yaml")
        for entry in raw.get("defaults") or ():
            if isinstance(entry, str) and entry != "_self_":
                pending.append((group, entry))
    return used


TABLES = ("reference", "headline", "all", "seeds")
PAGES = ("README.md", "docs")


@dataclass(frozen=True)
class Block:
    page: Path
    key: str  # <task>/<name>, or several joined by commas: one row each (``figures=``)
    table: str  # "reference" (the report's figures beside medzoo's) or "all"
    body: str
    figures: tuple[str, ...] = ()  # a comparison's columns: metrics.json paths

    @property
    def keys(self) -> list[str]:
        return self.key.split(",")


def record_path(results: Path, key: str) -> Path:
    return results / f"{key}.json"


def make_record(run_dir: str | Path) -> dict:
    """A record of a finished run, refused when the run cannot say which code made it."""
    run = RunDirectory.open(run_dir).require_finished()
    provenance_file = run.path / "provenance.json"
    if not provenance_file.is_file():
        raise UsageError(
            f"{run.path} has no provenance.json (written by medzoo since results records "
            "exist): rerun the command to record its figures"
        )
    provenance = json.loads(provenance_file.read_text(encoding="utf-8"))
    if not provenance.get("command"):
        raise UsageError(
            f"{run.path} was trained from Python, without a command line to rerun it: train "
            "it with python -m medzoo.train ... to record its figures"
        )
    code = provenance["code"]
    if not code.get("commit") or code.get("dirty"):
        state = "uncommitted changes" if code.get("dirty") else "no git commit"
        raise UsageError(
            f"{run.path} ran with {state} in medzoo's code: no commit reproduces it. Commit, "
            "rerun the command and record that run"
        )
    status = run.status()
    started = datetime.fromisoformat(status["started"])
    finished = datetime.fromisoformat(status["finished"])
    return {
        "task": run.read_config().task.name,
        "command": provenance["command"],
        "commit": code["commit"],
        "machine": provenance["machine"],
        "cpu": provenance.get("cpu"),
        "cores": provenance.get("cores"),
        "started": status["started"],
        "wall_time_s": round((finished - started).total_seconds()),
        "metrics": run.read_json("metrics.json"),
    }


def _cell_run(folder: Path, run: str) -> Path:
    """Where a cell's run is now: ``cells.json`` names it as the experiment saw it, relative
    to the directory it ran from, and every run lies in the experiment folder's ``runs/``."""
    path = Path(run)
    if path.is_absolute() and path.is_dir():
        return path
    parts = path.parts
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] == "runs" and parts[i - 1] == folder.name:
            return folder.joinpath(*parts[i:])
    return path


def make_experiment_record(
    folder: str | Path,
    experiment=None,
    root: Path | None = None,
    differs: Callable[[str, str, Path, Sequence[str]], bool | None] | None = None,
) -> dict:
    """A record of a finished experiment: every planned cell's figures, each refused as a run
    record would be, all from one commit's experiment code. Cells that ran at several commits
    are accepted only where git (in ``root``, default the working directory) shows those
    commits' ``EXPERIMENT_CODE`` identical: a commit of records or docs made while the cells
    ran changes nothing they computed; the record names the first cell's commit.
    ``experiment``: its definition (default: the one ``configs/tables/experiments/`` holds
    under the name the folder was started with)."""
    folder = Path(folder)
    spec_file = folder / "experiment.json"
    if not spec_file.is_file():
        raise UsageError(
            f"{folder} is not an experiment folder (no experiment.json): pass the folder that "
            "python -m medzoo.experiment printed"
        )
    spec = json.loads(spec_file.read_text(encoding="utf-8"))
    experiment = load_experiment(spec["name"]) if experiment is None else experiment
    cells_file = folder / "cells.json"
    done = json.loads(cells_file.read_text(encoding="utf-8")) if cells_file.is_file() else {}
    planned = [cell.key for cell in plan_cells(experiment, spec["profile"], spec["extra"])]
    missing = [key for key in planned if key not in done]
    if missing:
        raise UsageError(
            f"{folder}: {len(missing)} of {len(planned)} cells have not run (first: "
            f"{missing[0]}): finish them with python -m medzoo.experiment name={spec['name']} "
            f"profile={spec['profile']} resume={folder}"
        )
    runs = {key: make_record(_cell_run(folder, done[key]["run"])) for key in planned}
    first = min(runs.values(), key=lambda run: run["started"])
    commits = sorted({run["commit"] for run in runs.values()})
    differs = code_differs if differs is None else differs
    root = Path.cwd() if root is None else root
    if any(
        differs(first["commit"], commit, root, EXPERIMENT_CODE) is not False
        for commit in commits
        if commit != first["commit"]
    ):
        raise UsageError(
            f"{folder}: its cells ran at {len(commits)} commits "
            f"({', '.join(c[:7] for c in commits)}) whose experiment code differs (or cannot "
            "be compared here), so no one commit reproduces the table: run the experiment "
            "again in a new folder"
        )
    ends = [
        datetime.fromisoformat(run["started"]).timestamp() + run["wall_time_s"]
        for run in runs.values()
    ]
    command = " ".join(
        [
            "python -m medzoo.experiment",
            f"name={spec['name']}",
            f"profile={spec['profile']}",
            *spec["extra"],
        ]
    )
    return {
        "experiment": spec["name"],
        "profile": spec["profile"],
        "command": command,
        "commit": first["commit"],
        "machine": first["machine"],
        "cpu": first.get("cpu"),
        "cores": first.get("cores"),
        "started": first["started"],
        "wall_time_s": round(max(ends) - datetime.fromisoformat(first["started"]).timestamp()),
        "cells": {
            key: {key_: run[key_] for key_ in ("command", "wall_time_s", "metrics")}
            for key, run in runs.items()
        },
    }


def make_evaluation_record(
    run_dir: str | Path,
    kind: str,
    overrides: Sequence[str],
    root: Path,
    label: str | None = None,
    code: Callable[[], dict] = code_version,
    changed: Callable[[str, Path, Sequence[str]], bool | None] | None = None,
) -> dict:
    """The run's record plus an evaluation of it that this function runs: ``kind``
    ``evaluate_clips`` (clips animated from its test stills) or ``evaluate`` (its test split
    again, e.g. under ``test_shift=…``), with that command's ``overrides``. Refused unless this
    checkout is committed and its code for the evaluation is the run's, so that one commit
    made both the run and its evaluation."""
    if kind not in EVALUATIONS:
        raise UsageError(f"unknown evaluation {kind!r}; choose one of {', '.join(EVALUATIONS)}")
    record = make_record(run_dir)
    version = code()
    if not version.get("commit") or version.get("dirty"):
        raise UsageError(
            "this checkout has uncommitted changes in src/medzoo or configs (or is no git "
            "checkout), so no commit holds the code the run would be evaluated with: commit "
            "first"
        )
    code = code_of_record({**record, "evaluation": {"kind": kind}}, root)
    if (changed or training_code_changed)(record["commit"], root, code) is not False:
        raise UsageError(
            f"{run_dir} was trained at commit {record['commit'][:7]}, whose code differs from "
            f"this checkout's: record its evaluation from that commit (git worktree add "
            f"<folder> {record['commit'][:7]}) or train and record the run again"
        )
    run = RunDirectory.open(run_dir)
    started = time.perf_counter()  # evaluation folders are created when scored, not before
    cfg = compose([f"run={run.path}", *overrides], config_name=kind)
    if kind == "evaluate_clips":
        out = evaluate_clips(cfg)
        report = (out.path / "report.md").read_text(encoding="utf-8").splitlines()
        table, document = [line for line in report if line.startswith("|")], None
    else:
        shift = OmegaConf.to_container(cfg.test_shift, resolve=True) if cfg.test_shift else None
        out, document = run_evaluation(str(run.path), shift, cfg.get("test_site"))
        table = None
    return {
        **record,
        "evaluation": {
            "kind": kind,
            "command": " ".join([f"python -m medzoo.{kind} run=<run>", *overrides]),
            "label": label,
            "wall_time_s": round(time.perf_counter() - started),
            **({"table": table} if table is not None else {}),
            "metrics": out.read_json("metrics.json") if document is None else document,
        },
    }


def _write(record: dict, results: Path, key: str, calibration: Calibration | None = None) -> Path:
    """``record`` as ``results/<key>.json``, with the machine's calibration figure when given
    (measured by the record command right after the run, on the machine that ran it)."""
    if calibration is not None:
        record = {**record, "calibration": calibration.as_dict()}
    path = record_path(results, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def write_record(
    run_dir: str | Path,
    results: Path,
    name: str = "default",
    calibration: Calibration | None = None,
) -> Path:
    record = make_record(run_dir)
    return _write(record, results, f"{record['task']}/{name}", calibration)


def write_experiment_record(
    folder: str | Path,
    results: Path,
    name: str | None = None,
    calibration: Calibration | None = None,
) -> Path:
    record = make_experiment_record(folder)
    key = f"{record['experiment']}/{name or record['profile']}"
    return _write(record, results, key, calibration)


def read_record(results: Path, key: str, page: Path) -> dict:
    path = record_path(results, key)
    if not path.is_file():
        raise UsageError(
            f"{page} shows results {key!r}, but {path} does not exist: record a run with "
            f"python -m medzoo.results record run=<run dir> name={key.split('/')[1]}"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def _minutes(seconds: int) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def render_block(record: dict, table: str, key: str) -> str:
    """The markdown a page shows for ``record``: its table, how its CIs were made, and the
    command, commit, machine and wall time that produced it."""
    document = record["metrics"]
    card = get_card(record["task"])
    if table == "all" or not card.reference:
        figures = head_of(card).figures_table(document)
    else:
        figures = side_by_side(card, document)
        if table == "headline":
            figures = "\n".join(
                line for line in figures.splitlines() if not line.endswith("| no public data |")
            )
    return (
        f"{figures}\n\n{ci_method(document)}. Test n = {document.get('n')}.\n\n"
        f"{_made_by(record, key, 'run folder')}\n"
    )


def _made_by(record: dict, key: str, what: str) -> str:
    machine = record["machine"]
    if record.get("cpu"):
        machine = f"{record['cpu']}, {record.get('cores')} cores; {machine}"
    made = (
        f"`{record['command']}` at commit {record['commit'][:7]} on {machine}: "
        f"{_minutes(record['wall_time_s'])} from the {what}'s creation to its last file "
        f"(record: `results/{key}.json`)."
    )
    if record.get("calibration"):  # records made before the figure existed have none
        made += f" That machine's {Calibration(**record['calibration']).line()}."
    return made


def render_evaluation_block(record: dict, table: str, key: str) -> str:
    """A re-evaluation's figures (as a run's are shown) and the commands that made it."""
    evaluation = record["evaluation"]
    if evaluation.get("kind", "evaluate_clips") == "evaluate_clips":
        return render_clips_block(record, key)
    document = evaluation["metrics"]
    card = get_card(record["task"])
    figures = (
        side_by_side(card, document)
        if table != "all" and card.reference
        else (head_of(card).figures_table(document))
    )
    made = (
        f"`{evaluation['command']}` ({_minutes(evaluation['wall_time_s'])}) on the run of "
        f"{_made_by(record, key, 'run folder')}"
    )
    return f"{figures}\n\n{ci_method(document)}. Test n = {document.get('n')}.\n\n{made}\n"


def render_comparison(records: Sequence[tuple[str, dict]], figures: Sequence[str]) -> str:
    """Several records side by side, one row each (its evaluation's label, or "as trained"),
    one column per figure (metrics.json paths): e.g. a run under several test shifts."""
    rows = []
    for key, record in records:
        evaluation = record.get("evaluation") or {}
        document = evaluation.get("metrics") or record["metrics"]
        label = evaluation.get("label") or "as trained"
        rows.append((f"{label} (`{key}`)", *(format_figure(lookup(document, f)) for f in figures)))
    lines = [markdown_table(("record", *figures), rows), ""]
    for key, record in records:
        evaluation = record.get("evaluation")
        how = f"`{evaluation['command']}` on the run of " if evaluation else ""
        lines.append(f"- `{key}`: {how}`{record['command']}` at commit {record['commit'][:7]}")
    methods = {
        key: ci_method((record.get("evaluation") or {}).get("metrics") or record["metrics"])
        for key, record in records
    }
    if len(set(methods.values())) == 1:  # one sentence for all rows
        return "\n".join([*lines, "", f"{next(iter(methods.values()))}.", ""])
    # Rows whose intervals resample different units (images here, sequences there) say so.
    return "\n".join([*lines, "", *(f"- `{key}`: {text}." for key, text in methods.items()), ""])


def render_clips_block(record: dict, key: str) -> str:
    """A clip evaluation's table, what its clips were, and the commands that made it."""
    evaluation = record["evaluation"]
    clips = evaluation["metrics"]
    boot = clips.get("bootstrap") or {}
    facts = (
        f"{clips['clips']} clips × {clips['frames_per_clip']} frames at {clips['fps']:g} fps, "
        f"animated from test-split stills (style {clips['style']}); 95% CIs: bootstrap over "
        f"{clips['clips']} clips, {boot.get('n')} replicates, seed {boot.get('seed')}."
    )
    made = (
        f"`{evaluation['command']}` ({_minutes(evaluation['wall_time_s'])}) on the run of "
        f"{_made_by(record, key, 'run folder')}"
    )
    return "\n".join([*evaluation["table"], "", facts, "", made, ""])


def _spread(experiment, cells: dict) -> list[str]:
    """Per (row, column) with several runs: the lowest and highest run's first figure, with
    its interval, since a mean ± std hides how far one split's figure can fall."""
    metric = metrics_of(experiment)[0]
    lines = []
    for row in experiment.rows:
        for column in experiment.columns:
            figures = [
                lookup(cell["metrics"], metric)
                for key, cell in cells.items()
                if key.startswith(f"{row.key}/{column.key}/")
            ]
            figures = [f for f in figures if isinstance(f, dict) and f.get("value") is not None]
            if len(figures) > 1:
                low = min(figures, key=lambda f: f["value"])
                high = max(figures, key=lambda f: f["value"])
                where = f"{row.label}, {column.label}" if len(experiment.columns) > 1 else row.label
                lines.append(
                    f"{where}: test {metric} of one run ranged from {format_figure(low)} to "
                    f"{format_figure(high)} over {len(figures)} runs."
                )
    return lines


def _mean_over_rows(experiment, cells: dict) -> list[str]:
    """Where an experiment says its rows are replicates (``summary: mean_over_rows``, e.g.
    one row per split seed): per column, each figure's mean ± sd over the rows."""
    if experiment.get("summary") != "mean_over_rows":
        return []
    lines = []
    for column in experiment.columns:
        parts = []
        for metric in metrics_of(experiment):
            values = _row_values(experiment, cells, metric, column.key)
            if len(values) > 1:
                parts.append(f"{metric} {np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}")
        if parts:
            lines.append(
                f"{column.label}, mean ± sd over {len(experiment.rows)} rows: "
                + "; ".join(parts)
                + "."
            )
    return lines


def _row_values(experiment, cells: dict, metric: str, column: str) -> list[float]:
    """The figure ``metric`` of every run in ``column``, in the experiment's row order; runs
    without it are left out."""
    figures = [
        _figure(cell["metrics"], metric)
        for row in experiment.rows
        for key, cell in cells.items()
        if key.startswith(f"{row.key}/{column}/")
    ]
    return [f["value"] for f in figures if isinstance(f, dict) and f.get("value") is not None]


def _figure(metrics: dict, path: str) -> object:
    """A figure of a metrics.json by path; a bare number (a figure without an interval, such
    as the multilabel head's ``auc_macro``) as a figure with a value only."""
    figure = lookup(metrics, path)
    return {"value": float(figure)} if isinstance(figure, (int, float)) else figure


def experiment_table(experiment, cells: dict, profile: str) -> str:
    """The experiment's table; where no row carries the report's figures, one line per (row,
    column) and one column per figure, not a report column beside each figure."""
    if any(row.get("report") for row in experiment.rows):
        return render_table(experiment, cells, profile)
    metrics = metrics_of(experiment)
    several = len(experiment.columns) > 1
    header = ("model", *(("data",) if several else ()), *metrics)
    rows = []
    for row in experiment.rows:
        for column in experiment.columns:
            runs = [c for k, c in cells.items() if k.startswith(f"{row.key}/{column.key}/")]
            figures = [_summarise([_figure(c["metrics"], m) for c in runs]) for m in metrics]
            rows.append((row.label, *((column.label,) if several else ()), *figures))
    note = experiment.profiles[profile].get("note")
    sources = "; ".join(f"{c.label}: {c.data}" for c in experiment.columns)
    return "\n".join(
        [
            f"### {experiment.title} — profile `{profile}`",
            "",
            markdown_table(header, rows),
            "",
            "Figures on the test split (validation where named val_…); one run: value (95% "
            f"CI), several: mean ± std over runs. The report gives none for these rows. Data: "
            f"{sources}.",
            *dict.fromkeys(f"{ci_method(cell['metrics'])}." for cell in cells.values()),
            *([f"Profile: {note}."] if note else []),
        ]
    )


def render_experiment_block(record: dict, key: str, experiment=None) -> str:
    """An experiment record as its table (the report's figures beside medzoo's), the range of
    single runs, and what made it."""
    experiment = load_experiment(record["experiment"]) if experiment is None else experiment
    cells = record["cells"]
    table = experiment_table(experiment, cells, record["profile"])
    # a page's own headings frame the block: the table's title is bold text, not a heading
    table = re.sub(r"^### (.*)$", r"**\1**", table, count=1, flags=re.MULTILINE)
    spread = _mean_over_rows(experiment, cells) + _spread(experiment, cells)
    made_by = _made_by(record, key, "experiment folder")
    return "\n".join([table, "", *spread, *([""] if spread else []), made_by, ""])


def render_seeds_summary(records: Sequence[tuple[str, dict]], page: Path) -> str:
    """Experiments whose rows are replicates, one row each: the first figure's mean ± sd over
    the rows and every row's value, the wall time per run, and the record's commit."""
    rows = []
    for key, record in records:
        experiment = load_experiment(record["experiment"])
        if experiment.get("summary") != "mean_over_rows" or len(experiment.columns) != 1:
            raise UsageError(
                f"{page}: results {key}: table=seeds needs an experiment of one column whose "
                "rows are replicates (summary: mean_over_rows)"
            )
        metric = metrics_of(experiment)[0]
        values = _row_values(experiment, record["cells"], metric, experiment.columns[0].key)
        per_run = record["wall_time_s"] / max(len(record["cells"]), 1)
        rows.append(
            (
                experiment.title,
                f"`{metric}`",
                f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}",
                " / ".join(f"{v:.3f}" for v in values),
                f"{per_run / 60:.1f} min",
                f"`{record_path(Path('results'), key).as_posix()}` at {record['commit'][:7]}",
            )
        )
    header = ("experiment", "figure", "mean ± sd", "each row", "wall time per run", "record")
    return (
        markdown_table(header, rows)
        + "\n\nTest split of each row's own split seed; wall time: the experiment's, over its "
        "runs, on the machine its record names (its page has the calibration figure).\n"
    )


def _block(page: Path, match: re.Match) -> Block:
    options = dict(part.split("=", 1) for part in match["options"].split() if "=" in part)
    table = options.get("table", "reference")
    if table not in TABLES:
        raise UsageError(f"{page}: results {match['key']}: table={table!r} ({'|'.join(TABLES)})")
    figures = tuple(f for f in options.get("figures", "").split(",") if f)
    if table == "seeds":
        if figures:
            raise UsageError(f"{page}: results {match['key']}: table=seeds takes no figures=")
        return Block(page, match["key"], table, match["body"])
    if ("," in match["key"]) != bool(figures):
        raise UsageError(
            f"{page}: results {match['key']}: several records compare as one table and need "
            "figures=<metrics path>,… (one record alone takes none)"
        )
    return Block(page, match["key"], table, match["body"], figures)


def blocks(pages: Iterable[Path]) -> list[Block]:
    return [
        _block(page, match)
        for page in pages
        for match in BLOCK.finditer(page.read_text(encoding="utf-8"))
    ]


def rendered(block: Block, results: Path) -> str:
    """What ``block`` should hold: its record, rendered."""
    if block.figures:
        records = [(key, read_record(results, key, block.page)) for key in block.keys]
        return render_comparison(records, block.figures)
    if block.table == "seeds":
        return render_seeds_summary(
            [(key, read_record(results, key, block.page)) for key in block.keys], block.page
        )
    record = read_record(results, block.key, block.page)
    if "experiment" in record:
        return render_experiment_block(record, block.key)
    if "evaluation" in record:
        return render_evaluation_block(record, block.table, block.key)
    return render_block(record, block.table, block.key)


def page_files(root: Path) -> list[Path]:
    files = []
    for entry in PAGES:
        path = root / entry
        files += sorted(path.rglob("*.md")) if path.is_dir() else [path] if path.is_file() else []
    return files


def render_pages(pages: Sequence[Path], results: Path) -> list[Path]:
    """Rewrite every marked block from its record; returns the pages that changed."""
    changed = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        new = BLOCK.sub(
            lambda m, page=page: f"{m['open']}{rendered(_block(page, m), results)}{m['close']}",
            text,
        )
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed.append(page)
    return changed


def drifted(pages: Sequence[Path], results: Path) -> list[str]:
    """Blocks whose text differs from what their records render."""
    return [
        f"{block.page}: results {block.key}"
        for block in blocks(pages)
        if block.body != rendered(block, results)
    ]


def _git_diff(revisions: Sequence[str], root: Path, code: Sequence[str]) -> bool | None:
    """Whether ``git diff`` between ``revisions`` (one: that commit and the checkout) shows a
    file of ``code`` changed or removed; None when git cannot tell (no repository, unknown
    commit)."""
    try:
        out = subprocess.run(
            # --diff-filter=a: files added since cannot change what the record's command runs
            # until a file it already used changes to use them, which shows as a change.
            ["git", "diff", "--quiet", "--diff-filter=a", *revisions, "--", *code],
            cwd=root,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {0: False, 1: True}.get(out.returncode)


def training_code_changed(
    commit: str, root: Path, code: Sequence[str] = TRAINING_CODE
) -> bool | None:
    """Whether a file of ``code`` at ``commit`` was changed or removed in the checkout
    (committed or not); None when git cannot tell."""
    return _git_diff([commit], root, code)


def code_differs(older: str, newer: str, root: Path, code: Sequence[str]) -> bool | None:
    """Whether a file of ``code`` at commit ``older`` was changed or removed by commit
    ``newer``; None when git cannot tell."""
    return _git_diff([older, newer], root, code)


def stale(
    results: Path,
    root: Path,
    changed: Callable[[str, Path, Sequence[str]], bool | None] = training_code_changed,
) -> list[str]:
    """Records whose code differs from the checkout's (or cannot be compared): the core, and
    the commands the record ran (``code_of_record``)."""
    flagged = []
    for path in sorted(results.rglob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        commit = record["commit"]
        verdict = changed(commit, root, code_of_record(record, root))
        if verdict is None:
            flagged.append(f"{path}: commit {commit[:7]} cannot be compared with this checkout")
        elif verdict:
            flagged.append(f"{path}: training code changed since commit {commit[:7]}; rerun it")
    return flagged


REPRODUCTION_COMMIT = re.compile(r"^- medzoo commit: (?P<commit>[0-9a-f]{7,40})\b", re.MULTILINE)


def stale_reproduction(
    root: Path,
    changed: Callable[[str, Path, Sequence[str]], bool | None] = training_code_changed,
) -> list[str]:
    """REPRODUCTION.md and the dry runs' pages (``docs/dry_run_<profile>.md``) when the commit
    they were written at had other training code: ``python -m medzoo.reproduce`` writes them,
    they are not rendered from records."""
    pages = [root / "REPRODUCTION.md", *sorted((root / "docs").glob("dry_run_*.md"))]
    flagged = []
    for page in pages:
        text = page.read_text(encoding="utf-8") if page.is_file() else ""
        found = REPRODUCTION_COMMIT.search(text)
        if found is None or changed(found["commit"], root, REPRODUCTION_CODE) is False:
            continue
        command = re.search(r"^- command: `(?P<command>[^`]+)`", text, re.MULTILINE)
        flagged.append(
            f"{page.relative_to(root)}: written at commit {found['commit']}, whose training "
            "code differs from this checkout's (or cannot be compared); rerun "
            + (command["command"] if command else "python -m medzoo.reproduce")
        )
    return flagged


USAGE = (
    "usage: python -m medzoo.results record run=<run dir> [name=default] [results=results] | "
    "record experiment=<experiment dir> [name=<profile>] [results=results] | "
    "record run=<run dir> name=<name> [label=<text>] evaluate_clips|evaluate [<override> ...] | "
    "render [results=results] | check [results=results]"
)


def _calibrate() -> Calibration:
    """The machine's calibration figure, measured before a record is written (the run it
    records has finished, so nothing of medzoo's competes for the cores)."""
    calibration = measure()
    print(calibration.line())
    return calibration


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    with user_errors():
        if not arguments or arguments[0] not in ("record", "render", "check"):
            raise UsageError(USAGE)
        action, rest = arguments[0], arguments[1:]
        kinds = [argument for argument in rest if argument in EVALUATIONS]
        rest = [argument for argument in rest if argument not in EVALUATIONS]
        own = ("run", "experiment", "name", "results", "label")
        options, overrides = split_arguments(rest, own, USAGE)
        if overrides and not kinds:
            raise UsageError(f"cannot read argument {overrides[0]!r}; {USAGE}")
        results, root = Path(options.get("results", "results")), Path.cwd()
        if kinds:
            if action != "record" or "run" not in options or "name" not in options:
                raise UsageError(f"{kinds[0]} needs record run=<run dir> name=<name>; {USAGE}")
            calibration = _calibrate()
            record = make_evaluation_record(
                options["run"], kinds[0], overrides, root, options.get("label")
            )
            key = f"{record['task']}/{options['name']}"
            print(f"written: {_write(record, results, key, calibration)}")
            return
        if action == "record":
            if ("run" in options) == ("experiment" in options):
                raise UsageError(f"record takes one of run= and experiment=; {USAGE}")
            name, calibration = options.get("name"), _calibrate()
            if "experiment" in options:
                path = write_experiment_record(options["experiment"], results, name, calibration)
            else:
                path = write_record(options["run"], results, name or "default", calibration)
            print(f"written: {path}")
            return
        pages = page_files(root)
        if action == "render":
            changed = render_pages(pages, results)
            print("\n".join(f"rendered: {p}" for p in changed) or "every page is up to date")
            return
        for line in stale(results, root) + stale_reproduction(root):
            print(f"stale: {line}")
        drift = drifted(pages, results)
        if drift:
            raise UsageError(
                "pages differ from their records (run python -m medzoo.results render):\n"
                + "\n".join(drift)
            )
        print(f"{len(blocks(pages))} result blocks match their records")


if __name__ == "__main__":
    main()
