"""Experiment trackers (the ``logger`` config group): Lightning's own loggers, built from the
config's ``_target_`` entries, beside the run folder's CSV logs that medzoo itself reads.

``logger=[csv,tensorboard,mlflow]`` on the command line selects several. Each tracker gets
the training curves (from Lightning), the run's flattened settings, and at the end the final
test figures with their 95% CIs (``test/<figure>``, ``test/<figure>/ci_low`` and
``/ci_high``); MLflow also gets the run folder as artefacts. Where a tracker's package is not
installed, training stops before it starts, naming the extra to install.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger
from omegaconf import DictConfig, OmegaConf

from medzoo.errors import UsageError
from medzoo.rundir import RunDirectory

# The package each Lightning logger needs, and the medzoo extra that installs it.
NEEDS = {
    "TensorBoardLogger": ("tensorboard", "trackers"),
    "MLFlowLogger": ("mlflow", "trackers"),
    "WandbLogger": ("wandb", "wandb"),
}
MAX_PARAM_CHARS = 250  # MLflow refuses longer parameter values on older stores


def _entries(cfg: DictConfig) -> dict[str, dict]:
    spec = cfg.get("logger")
    return dict(OmegaConf.to_container(spec, resolve=True)) if spec else {}


def check_trackers(cfg: DictConfig) -> None:
    """Refuse, before a run folder exists, a tracker whose package is missing."""
    for name, entry in _entries(cfg).items():
        kind = str(entry.get("_target_", "")).rsplit(".", 1)[-1]
        package, extra = NEEDS.get(kind, (None, None))
        if package and importlib.util.find_spec(package) is None:
            raise UsageError(
                f'logger={name} needs the {package!r} package: pip install "medzoo[{extra}]" '
                "(or drop it from logger=...)"
            )


def build_trackers(cfg: DictConfig, run: RunDirectory) -> list[Logger]:
    """The configured trackers, writing into ``run`` unless told where."""
    check_trackers(cfg)
    trackers = []
    for entry in _entries(cfg).values():
        kind = str(entry.get("_target_", "")).rsplit(".", 1)[-1]
        if kind in ("TensorBoardLogger",) and not entry.get("save_dir"):
            entry["save_dir"] = str(run.path / "tensorboard")
        if kind == "MLFlowLogger" and not entry.get("run_name"):
            entry["run_name"] = run.path.name
        if kind == "WandbLogger":
            entry["save_dir"] = entry.get("save_dir") or str(run.path)
            entry["name"] = entry.get("name") or f"{cfg.task.name}/{run.path.name}"
        trackers.append(instantiate(entry))
    return trackers


def flat_settings(cfg: DictConfig) -> dict[str, str]:
    """The run's config as ``a.b.c -> value`` strings (long values cut, the way they show)."""

    def walk(node: Any, prefix: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, Mapping) and node:
            for key, value in node.items():
                yield from walk(value, f"{prefix}.{key}" if prefix else str(key))
        else:
            text = str(node)
            yield (
                prefix,
                text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 1] + "…",
            )

    settings = OmegaConf.to_container(cfg, resolve=True)
    settings.pop("hydra", None)
    return dict(walk(settings, ""))


def figures(document: Mapping, prefix: str = "test") -> dict[str, float]:
    """Every ``{"value", "ci95"}`` figure in a metrics document, flattened by its path:
    ``test/<path>`` and its CI bounds ``test/<path>/ci_low``, ``test/<path>/ci_high``."""
    out: dict[str, float] = {}

    def walk(node: Any, path: Sequence[str]) -> None:
        if isinstance(node, Mapping):
            if "value" in node and "ci95" in node:
                name = "/".join([prefix, *path])
                low, high = (node.get("ci95") or [math.nan, math.nan])[:2]
                for key, value in ((name, node["value"]), (f"{name}/ci_low", low)):
                    if isinstance(value, int | float) and math.isfinite(value):
                        out[key] = float(value)
                if isinstance(high, int | float) and math.isfinite(high):
                    out[f"{name}/ci_high"] = float(high)
                return
            for key, value in node.items():
                if key not in ("val", "per_image", "bootstrap"):
                    walk(value, [*path, str(key)])

    walk(document, [])
    return out


def report_to_trackers(
    trackers: Sequence[Logger], cfg: DictConfig, document: Mapping, run: RunDirectory
) -> None:
    """Give every tracker the run's settings and final test figures; MLflow also the run
    folder as artefacts. Then close them."""
    settings, final = flat_settings(cfg), figures(document)
    for tracker in trackers:
        tracker.log_hyperparams(settings)
        if final:
            tracker.log_metrics(final)
        if type(tracker).__name__ == "MLFlowLogger":
            tracker.experiment.log_artifacts(tracker.run_id, str(run.path))
        tracker.finalize("success")
