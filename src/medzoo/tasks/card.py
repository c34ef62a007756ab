"""Task cards: the facts about a task, read from its Hydra config ``configs/task/<name>.yaml``.

The YAML is the single source: its ``task:`` block is the card, its defaults list names the
default data recipe and model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from medzoo.metrics.aggregation import check_rule
from medzoo.metrics.items import output_names
from medzoo.paths import config_dir


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
class UnitLevel:
    """Decisions per unit (e.g. slide) aggregated from image scores (``metrics.aggregation``).

    ``views`` name what is positive: class groups of the card, or for a binary head its
    positive class.
    """

    unit: str
    rules: tuple[str, ...] = ("max", "mean", "top3")
    views: tuple[str, ...] = ()


@dataclass(frozen=True)
class Quantification:
    """What a segmentation task measures on each map (``metrics.segmentation.QUANTIFIERS``);
    ``points`` matches blob centroids within ``match_distance_px``."""

    measure: str = "area"
    match_distance_px: float | None = None


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
    unit_level: UnitLevel | None = None
    quantification: Quantification = Quantification()
    items: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    failure_modes: tuple[str, ...] = ()  # task-specific, for the model card
    # ordered grades: each class's value on its scale (intermediate grades between integers)
    grade_values: tuple[float, ...] = ()
    # the classes (and so the head) are the manifest's labels, filled in when a run starts
    classes_from_manifest: bool = False

    def __post_init__(self) -> None:
        if not self.head:
            raise ValueError(f"task {self.name!r}: no head (the registry medzoo.heads names them)")
        if (self.head == "items") != bool(self.items):
            raise ValueError(
                f"task {self.name!r}: an items head needs 'items' (item: [grades]) and only "
                "an items head takes them"
            )
        if self.items and list(self.class_names) != output_names(self.items):
            raise ValueError(f"task {self.name!r}: class_names must be the items' outputs")
        if self.grade_values and (
            len(self.grade_values) != len(self.class_names)
            or any(b <= a for a, b in zip(self.grade_values, self.grade_values[1:], strict=False))
        ):
            raise ValueError(
                f"task {self.name!r}: grade_values must give one increasing value per class "
                f"({len(self.class_names)} classes, got {list(self.grade_values)})"
            )
        labels = [figure.label for figure in self.reference]
        repeated = sorted({label for label in labels if labels.count(label) > 1})
        if repeated:  # e.g. an unquoted comma in a YAML flow mapping cut two labels short
            raise ValueError(
                f"task {self.name!r}: reference figures share the label(s) {repeated}; give each "
                "its own (quote labels that hold a comma)"
            )
        if self.head == "binary" and len(self.class_names) != 2:
            raise ValueError(f"task {self.name!r}: a binary head needs exactly 2 class names")
        for group, members in self.class_groups.items():
            unknown = set(members) - set(self.class_names)
            if unknown:
                raise ValueError(
                    f"task {self.name!r}: group {group!r} names unknown classes {unknown}"
                )
        if self.unit_level is not None:
            for rule in self.unit_level.rules:
                check_rule(rule)
            allowed = set(self.class_groups) | (
                {self.class_names[1]} if self.head == "binary" else set()
            )
            unknown_views = set(self.unit_level.views) - allowed
            if self.head not in ("binary", "multiclass") or not self.unit_level.views:
                raise ValueError(
                    f"task {self.name!r}: unit_level needs a binary or multiclass head and "
                    "at least one view (a class group, or the binary head's positive class)"
                )
            if unknown_views:
                raise ValueError(
                    f"task {self.name!r}: unit_level views {sorted(unknown_views)} are not "
                    f"class groups; choose from {sorted(allowed)}"
                )


def card_of(cfg: DictConfig) -> TaskCard:
    """The card of a composed config (its ``task`` block, overrides applied)."""
    return card_from_config(OmegaConf.to_container(cfg.task, resolve=True))


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
    unit_level = task.get("unit_level")
    quantify = task.get("quantify") or {}
    unknown = sorted(set(quantify) - {f.name for f in fields(Quantification)})
    if unknown:
        raise ValueError(
            f"task {task.get('name')!r}: quantify has unknown keys {unknown}; it takes "
            f"{[f.name for f in fields(Quantification)]}"
        )
    items = {item: tuple(grades) for item, grades in (task.get("items") or {}).items()}
    return TaskCard(
        name=task["name"],
        title=task["title"],
        modality=task["modality"],
        section=task["section"],
        head=task["head"],
        class_names=tuple(output_names(items) if items else task["class_names"]),
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
        unit_level=UnitLevel(
            unit=unit_level["unit"],
            rules=tuple(unit_level.get("rules") or UnitLevel.rules),
            views=tuple(unit_level.get("views") or ()),
        )
        if unit_level
        else None,
        items=items,
        failure_modes=tuple(task.get("failure_modes") or ()),
        grade_values=tuple(float(v) for v in task.get("grade_values") or ()),
        classes_from_manifest=bool(task.get("classes_from_manifest", False)),
        quantification=Quantification(
            measure=quantify.get("measure", Quantification.measure),
            match_distance_px=quantify.get("match_distance_px"),
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
