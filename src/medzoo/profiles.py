"""A profile: one budget for running a table (``quick``: 2 CPU cores; ``full``: a GPU).

``configs/tables/reproduce.yaml`` and every ``configs/tables/experiments/*.yaml`` declare
their profiles in this one shape, read here and nowhere else::

    profiles:
      quick:
        note: "2 CPU cores: 96 px, 3 epochs"   # printed under the table
        overrides: [data.image_size=96]         # given to every run
        column_overrides: {<column>: [...]}     # experiments: given to one column's runs
        seeds: [0, 1, 2]                        # each cell once per seed (default: seed 0) ...
        cv: {folds: 4, repeats: 2}              # ... or once per fold of a repeated CV
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from medzoo.errors import UsageError

KEYS = ("note", "overrides", "column_overrides", "seeds", "cv")


@dataclass(frozen=True)
class Replicate:
    """One repetition of a cell: its key in result records and the overrides that make it."""

    key: str
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Profile:
    name: str
    note: str = ""
    overrides: tuple[str, ...] = ()
    column_overrides: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    seeds: tuple[int, ...] = (0,)
    folds: int = 0  # 0: no cross-validation, one run per seed
    repeats: int = 1

    def __post_init__(self) -> None:
        if self.folds == 1 or self.folds < 0 or self.repeats < 1:
            raise UsageError(
                f"profile {self.name!r}: cv needs folds ≥ 2 and repeats ≥ 1, got folds "
                f"{self.folds}, repeats {self.repeats}"
            )
        if not self.seeds:
            raise UsageError(f"profile {self.name!r}: seeds is empty; give at least one seed")

    @classmethod
    def from_config(cls, name: str, node: Mapping, source: str) -> Profile:
        """The profile ``name`` as ``source`` (a file, for the error message) declares it."""
        unknown = sorted(set(node) - set(KEYS))
        if unknown:
            raise UsageError(
                f"{source}: profile {name!r} has unknown keys {unknown}; a profile takes "
                f"{', '.join(KEYS)}"
            )
        cv = node.get("cv") or {}
        return cls(
            name=name,
            note=str(node.get("note") or ""),
            overrides=tuple(str(o) for o in node.get("overrides") or ()),
            column_overrides={
                str(k): tuple(str(o) for o in v)
                for k, v in (node.get("column_overrides") or {}).items()
            },
            seeds=tuple(int(s) for s in node.get("seeds") or (0,)),
            folds=int(cv.get("folds", 0)),
            repeats=int(cv.get("repeats", 1)),
        )

    def replicates(self) -> list[Replicate]:
        """The runs of one cell: every fold of every repeat (keys r0f0 … r1f3) under
        cross-validation, else one run per seed (keys seed0, seed1, …)."""
        if self.folds:
            return [
                Replicate(f"r{r}f{f}", (f"data.split.cv.repeat={r}", f"data.split.cv.fold={f}"))
                for r in range(self.repeats)
                for f in range(self.folds)
            ]
        return [Replicate(f"seed{s}", (f"seed={s}",)) for s in self.seeds]


def choose_profile(
    profiles: Mapping, name: str, source: str, error: type[UsageError] = UsageError
) -> Profile:
    """The profile ``name`` of a ``profiles:`` block, or ``error`` listing the others."""
    if name not in profiles:
        raise error(f"{source} has no profile {name!r}; available: {', '.join(profiles)}")
    return Profile.from_config(name, profiles[name], source)
