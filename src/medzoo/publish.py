"""``python -m medzoo.publish run=<run dir> (out=<folder> | zoo=true) [push=<org>/<name>]``:
a finished run as a release (``medzoo.releases``) that ``medzoo.releases.load`` reads back.

- ``out=<folder>``: a new folder (an existing, non-empty one is refused: nothing is
  overwritten);
- ``zoo=true``: the task's entry in the local zoo, ``$MEDZOO_HOME/zoo/<task>`` (replacing the
  task's earlier release there, which is kept beside it as ``<task>.previous``);
- ``push=<org>/<name>``: then uploads the folder with ``huggingface_hub`` (needs a network and
  a token).

Refused: a run that did not finish, a head whose runs hold no single network (text,
detection), and a run whose metrics.json is older than its checkpoint (its figures would not
be the checkpoint's).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import yaml

from medzoo import __version__
from medzoo.commands import UsageError, flag, key_values, user_errors
from medzoo.environment import code_version
from medzoo.heads import checkpoint_of, load_module
from medzoo.releases import (
    CONFIG,
    METRICS,
    README,
    RELEASE_VERSION,
    WEIGHTS,
    ReleaseError,
    state_dict_for_release,
    write_sums,
    zoo_dir,
)
from medzoo.reporting.model_card import CARD_FILE, read_model_card
from medzoo.reporting.report import format_figure, lookup
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import TaskCard, card_of

# The Hub's licence identifiers for the licences stand-in data come under; anything else is
# "other", with the card's own words beside it.
LICENCES = (
    ("CC BY-NC-SA 4.0", "cc-by-nc-sa-4.0"),
    ("CC BY-NC 4.0", "cc-by-nc-4.0"),
    ("CC BY-SA 4.0", "cc-by-sa-4.0"),
    ("CC BY 4.0", "cc-by-4.0"),
    ("CC0", "cc0-1.0"),
    ("Apache-2.0", "apache-2.0"),
)
PIPELINES = {"segmentation": "image-segmentation"}


def hub_licence(licence: str) -> str:
    return next((hub for words, hub in LICENCES if words.lower() in licence.lower()), "other")


# Without report figures on the card, a release shows these figures of its metrics document
# (top level and per class group), in this order.
MAIN_FIGURES = ("auc", "auc_macro_ovr", "accuracy", "sensitivity", "specificity", "dice")


def figures(card: TaskCard, metrics: Mapping) -> list[tuple[str, str, Mapping]]:
    """(label, metrics path, figure) of what a release reports: the report's figures medzoo
    measures, else the document's main figures."""
    measured = [
        (ref.label, ref.metric, lookup(metrics, ref.metric)) for ref in card.reference if ref.metric
    ]
    if not any(isinstance(f, Mapping) and f.get("value") is not None for _, _, f in measured):
        blocks = [("", metrics)] + [
            (f"groups.{name}.", block) for name, block in (metrics.get("groups") or {}).items()
        ]
        measured = [
            (
                f"{prefix}{key}".replace("groups.", "").replace(".", " ", 1),
                f"{prefix}{key}",
                block[key],
            )
            for prefix, block in blocks
            for key in MAIN_FIGURES
            if key in block
        ]
    return [
        (label, path, figure)
        for label, path, figure in measured
        if isinstance(figure, Mapping) and figure.get("value") is not None
    ]


def headline(card: TaskCard, metrics: Mapping) -> dict | None:
    """The first figure of the release, with its value and CI."""
    for label, path, figure in figures(card, metrics)[:1]:
        return {
            "label": label,
            "metric": path,
            "value": figure["value"],
            "ci95": figure.get("ci95"),
            "text": f"{label}: {format_figure(figure)}",
        }
    return None


def model_index(card: TaskCard, metrics: Mapping, pipeline: str) -> list[dict]:
    """The Hub's ``model-index``: the release's figures, each CI in its name."""
    entries = []
    for label, path, figure in figures(card, metrics):
        lo, hi = figure.get("ci95") or (None, None)
        interval = f" (95% CI {lo:.3f}–{hi:.3f})" if lo is not None and hi is not None else ""
        entries.append(
            {
                "type": path,
                "name": f"{label}{interval}",
                "value": round(float(figure["value"]), 4),
                "verified": False,
            }
        )
    return [
        {
            "name": f"medzoo-{card.name}",
            "results": [
                {
                    "task": {"type": pipeline, "name": card.title},
                    "dataset": {"name": card.data, "type": card.data, "split": "test"},
                    "metrics": entries,
                }
            ],
        }
    ]


def readme(card: TaskCard, run: RunDirectory, metrics: Mapping, front: Mapping) -> str:
    """The run's model card under the Hub's front matter, and how to load the release."""
    text = (run.path / CARD_FILE).read_text(encoding="utf-8")
    body = text.split("\n---\n", 1)[1] if text.startswith("---\n") else text
    pipeline = PIPELINES.get(card.head, "image-classification")
    matter = {
        "license": hub_licence(card.licence),
        "license_name": card.licence or None,
        "library_name": "medzoo",
        "pipeline_tag": pipeline,
        "tags": ["medzoo", "medical-imaging", card.modality, card.head, card.section],
        "datasets": [card.data],
        "base_model": front.get("model"),
        "model-index": model_index(card, metrics, pipeline),
    }
    usage = (
        "\n## Load this release\n\n```python\nfrom medzoo.releases import load\n"
        f'model = load("<this folder>")  # or "hf-hub:<org>/<name>", or "{card.name}" from the '
        'local zoo\nmodel.predict(["image.png"])\n```\n'
    )
    dumped = yaml.safe_dump(
        {k: v for k, v in matter.items() if v is not None}, sort_keys=False, allow_unicode=True
    )
    return f"---\n{dumped}---\n{body.rstrip()}\n{usage}"


def _refuse_stale_metrics(run: RunDirectory, checkpoint: Path) -> Path:
    metrics = run.path / METRICS
    if not metrics.is_file():
        raise ReleaseError(f"{run.path} has no {METRICS}: train it to the end, then publish")
    if metrics.stat().st_mtime < checkpoint.stat().st_mtime:
        raise ReleaseError(
            f"{metrics} is older than {checkpoint}, so its figures are not that checkpoint's: "
            f"re-evaluate it (python -m medzoo.evaluate run={run.path}) or train it again"
        )
    return metrics


def read_checkpoint(checkpoint: Path) -> dict:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)


def validation_score(saved: Mapping) -> dict | None:
    """The validation figure a checkpoint (``read_checkpoint``) was chosen by (``monitor``,
    maximised) and its value, from the checkpoint callback's state; None where it holds none."""
    for name, state in (saved.get("callbacks") or {}).items():
        score = state.get("best_model_score") if name.startswith("ModelCheckpoint") else None
        if score is not None:
            return {"monitor": state.get("monitor"), "value": float(score)}
    return None


def write_release(run_dir: str | Path, folder: Path) -> Path:
    """Write the release of ``run_dir`` into ``folder`` (which must not exist)."""
    run = RunDirectory.open(run_dir).require_finished()
    cfg = run.read_config()
    card = card_of(cfg)
    try:
        checkpoint = checkpoint_of(run)
    except FileNotFoundError as err:
        raise ReleaseError(f"cannot publish: {err}") from err
    metrics_file = _refuse_stale_metrics(run, checkpoint)
    front = read_model_card(run.path)
    if front is None:
        raise ReleaseError(
            f"{run.path} has no {CARD_FILE}: train it again with medzoo, then publish"
        )
    module = load_module(checkpoint)
    saved = read_checkpoint(checkpoint)
    metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    provenance = run.path / "provenance.json"
    config = {
        "medzoo_release": RELEASE_VERSION,
        "task": card.name,
        "title": card.title,
        "section": card.section,
        "head": card.head,
        "class_names": list(module.class_names),
        "class_groups": {name: list(members) for name, members in card.class_groups.items()},
        "preprocessing": front["preprocessing"],
        "backbone": front.get("model"),
        "hparams": {
            key: value
            for key, value in saved["hyper_parameters"].items()
            if key not in ("pretrained", "weights")
        },
        "headline": headline(card, metrics),
        "validation": validation_score(saved),
        "medzoo": {"version": __version__, "commit": code_version().get("commit")},
        "run": json.loads(provenance.read_text(encoding="utf-8")) if provenance.is_file() else None,
    }
    from safetensors.torch import save_file

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        save_file(state_dict_for_release(module), str(staging / WEIGHTS), metadata={"format": "pt"})
        (staging / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        (staging / METRICS).write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        (staging / README).write_text(readme(card, run, metrics, front), encoding="utf-8")
        write_sums(staging)
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def publish(run_dir: str | Path, out: str | Path | None = None, zoo: bool = False) -> Path:
    """A release of ``run_dir`` at ``out``, or as its task's entry in the local zoo."""
    if (out is None) == (not zoo):
        raise UsageError("publish needs one of out=<folder> and zoo=true")
    if out is not None:
        folder = Path(out).expanduser()
        if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
            raise ReleaseError(
                f"{folder} exists and is not empty: choose a new folder for the release"
            )
        if folder.is_dir():
            folder.rmdir()
        return write_release(run_dir, folder)
    task = card_of(RunDirectory.open(run_dir).read_config()).name
    entry, previous = zoo_dir() / task, zoo_dir() / f"{task}.previous"
    fresh = write_release(run_dir, zoo_dir() / f".{task}.new")
    if entry.exists():
        shutil.rmtree(previous, ignore_errors=True)
        entry.rename(previous)
    fresh.rename(entry)
    return entry


def push(folder: Path, repo: str) -> str:
    """Upload a release folder to the Hub (a network and a token are needed)."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo, exist_ok=True)
    info = api.upload_folder(folder_path=str(folder), repo_id=repo)
    return str(getattr(info, "commit_url", info))


USAGE = (
    "usage: python -m medzoo.publish run=<run dir> (out=<folder> | zoo=true) [push=<org>/<name>]"
)


def main(argv: Sequence[str] | None = None) -> None:
    with user_errors():
        options = key_values(
            sys.argv[1:] if argv is None else argv, ("run", "out", "zoo", "push"), USAGE, ("run",)
        )
        folder = publish(options["run"], options.get("out"), flag(options, "zoo", USAGE))
        print(f"release written: {folder}")
        if options.get("push"):
            print(f"pushed: {push(folder, options['push'])}")


if __name__ == "__main__":
    main()
