"""Task cards: the facts about a task, read from its Hydra config ``configs/task/<name>.yaml``.

The YAML is the single source: its ``task:`` block is the card, its defaults list names the
default data recipe and model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf

from medzoo.metrics.protocol import HEADS as CLASSIFICATION_HEADS
from medzoo.paths import config_dir

HEADS = (*CLASSIFICATION_HEADS, "segmentation")


@dataclass(frozen=True)
class ReferenceFigure:
    """One of the source report's figures, and where medzoo's counterpart lives in metrics.json.

    ``report`` holds every value the report prints for it (the report sometimes disagrees with
    itself; both values are shown, never reconciled).
    """

    label: str
    metric: str  # empty: medzoo has no public data for this figure
    report: tuple[float, ...]
    note: str = ""


@dataclass(frozen=True)
class TaskCard:
    name: str
    title: str
    modality: str
    section: str
    head: str
    class_names: tuple[str, ...]
    class_groups: Mapping[str, tuple[str, ...]]
    data: str
    model: str
    stand_in: str
    licence: str
    reference_source: str = ""
    reference: tuple[ReferenceFigure, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"task {self.name!r}: unknown head {self.head!r}; expected {HEADS}")
        if self.head == "binary" and len(self.class_names) != 2:
            raise ValueError(f"task {self.name!r}: a binary head needs exactly 2 class names")
        for group, members in self.class_groups.items():
            unknown = set(members) - set(self.class_names)
            if unknown:
                raise ValueError(
                    f"task {self.name!r}: group {group!r} names unknown classes {unknown}"
                )


def _default_choice(defaults: list, group: str) -> str:
    for entry in defaults:
        if isinstance(entry, Mapping):
            for key, value in entry.items():
                if key.replace("override ", "").strip("/ ") == group:
                    return str(value)
    return ""


def card_from_config(config: Mapping, defaults: list | None = None) -> TaskCard:
    """Build a card from a task config's ``task`` block (and its defaults list)."""
    task = dict(config)
    reference = task.get("reference") or {}
    defaults = defaults or []
    return TaskCard(
        name=task["name"],
        title=task["title"],
        modality=task["modality"],
        section=task["section"],
        head=task["head"],
        class_names=tuple(task["class_names"]),
        class_groups={k: tuple(v) for k, v in (task.get("class_groups") or {}).items()},
        data=task.get("data") or _default_choice(defaults, "data"),
        model=task.get("model") or _default_choice(defaults, "model"),
        stand_in=task.get("stand_in", ""),
        licence=task.get("licence", ""),
        reference_source=reference.get("source", ""),
        reference=tuple(
            ReferenceFigure(
                label=f["label"],
                metric=f.get("metric") or "",
                report=tuple(f["report"]) if isinstance(f["report"], list) else (f["report"],),
                note=f.get("note", ""),
            )
            for f in reference.get("figures", [])
        ),
    )


def _task_files() -> dict[str, Path]:
    return {path.stem: path for path in sorted((config_dir() / "task").glob("*.yaml"))}


def list_tasks() -> list[str]:
    """Names of every registered task (one YAML file each under ``configs/task/``)."""
    return list(_task_files())


def get_card(name: str) -> TaskCard:
    files = _task_files()
    if name not in files:
        raise KeyError(f"unknown task {name!r}; registered tasks: {list(files)}")
    raw = OmegaConf.to_container(OmegaConf.load(files[name]), resolve=False)
    return card_from_config(raw["task"], raw.get("defaults"))
