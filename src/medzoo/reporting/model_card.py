"""The model card every run writes (``model_card.md``), and reading it back.

The card is markdown with a YAML front matter (the layout Hugging Face model cards use): the
front matter is for programs — ``medzoo.load`` rebuilds the preprocessing from it — and the
body is for people: intended use, data and licence, preprocessing, test figures with 95% CIs,
calibration and known failure modes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import yaml
from omegaconf import DictConfig

from medzoo.reporting.report import format_figure, render_report, side_by_side
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import TaskCard

CARD_FILE = "model_card.md"
CARD_VERSION = 1

INTENDED_USE = (
    "Research and teaching only: rerunning, auditing and extending a published medical-imaging "
    "result on public stand-in data. It is not a medical device, has not been validated for "
    "diagnosis, triage or any clinical decision, and must not be used on patients."
)

GENERAL_FAILURE_MODES = (
    "Trained on a public stand-in dataset, not on the report's private data: figures say how "
    "the method does on that dataset, not how it would do in a clinic.",
    "Images from other scanners, hospitals, populations or acquisition settings (domain "
    "shift) can lower every figure without warning.",
    "Thresholds were chosen on this run's validation split; a new population needs its own.",
    "Probabilities are only as calibrated as the Calibration section says; they are not risks.",
)


class DescribesRuns(Protocol):
    """What a card needs from the run's head (``medzoo.heads.base.Head``)."""

    failure_mode: str | None

    def preprocessing(self, card: TaskCard, cfg: DictConfig) -> dict[str, object]: ...

    def figures_table(self, document: Mapping) -> str: ...


def _describe(steps: Mapping[str, object]) -> str:
    if steps["kind"] == "letterbox":
        colour = "grey" if steps["channels"] == 1 else "RGB"
        return (
            f"Read as {colour} ({steps['channels']} channel(s)); resized keeping the aspect "
            f"ratio so the longer side is {steps['image_size']} px, padded with black to "
            f"{steps['image_size']} × {steps['image_size']}; scaled to [0, 1]; normalised "
            "inside the model. Training augmentation is not applied at prediction."
        )
    if steps["kind"] == "detector":
        return (
            f"Detector: the whole frame at {steps['detector_image_size']} px (ultralytics "
            f"letterbox). Verifier: each box with a {steps['verifier_context']:.0%} margin, "
            f"letterboxed to {steps['verifier_crop_size']} px."
        )
    return f"Model kind {steps['kind']!r}: see its config.yaml."


def render_model_card(
    card: TaskCard,
    cfg: DictConfig,
    document: Mapping,
    context: Mapping[str, str],
    head: DescribesRuns,
) -> str:
    steps = head.preprocessing(card, cfg)
    front = {
        "medzoo_model_card": CARD_VERSION,
        "task": card.name,
        "section": card.section,
        "head": card.head,
        "class_names": list(card.class_names),
        "model": str(cfg.model.get("backbone") or cfg.model.get("estimator") or ""),
        "data": str(cfg.data.get("recipe", "")),
        "seed": int(cfg.seed),
        "intended_use": "research",
        "preprocessing": steps,
    }
    head_modes = [head.failure_mode] if head.failure_mode else []
    failure_modes = [*card.failure_modes, *head_modes, *GENERAL_FAILURE_MODES]
    parts = [
        "---",
        yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip(),
        "---",
        f"# Model card: {card.title} (`{card.name}`, report section {card.section})",
        "",
        "## Intended use",
        "",
        INTENDED_USE,
        "",
        "## Data and licence",
        "",
        f"- stand-in data: {card.stand_in}",
        f"- licence: {card.licence}",
        f"- test images: {document.get('n', 'n/a')}; split and every image: `manifest.csv`",
        "",
        "## Preprocessing",
        "",
        _describe(steps),
        "",
        "## Training",
        "",
        *(f"- {key}: {value}" for key, value in context.items()),
        "",
        "## Test figures (95% CI)",
        "",
    ]
    if card.reference:
        parts += [side_by_side(card, document), ""]
    parts += [head.figures_table(document), ""]
    calibration = document.get("calibration")
    if calibration:
        line = f"Expected calibration error ({calibration['method']}): "
        line += format_figure(calibration["ece"])
        scaled = calibration.get("temperature")
        if scaled:
            line += (
                f"; after temperature scaling (T = {scaled['value']:.3f}, fitted on "
                f"validation): {format_figure(scaled['ece'])}"
            )
        parts += ["## Calibration", "", line + ". Reliability diagram: `reliability.png`.", ""]
    parts += ["## Known failure modes", "", *(f"- {mode}" for mode in failure_modes)]
    return "\n".join(parts) + "\n"


def write_reports(
    run: RunDirectory,
    card: TaskCard,
    cfg: DictConfig,
    document: Mapping,
    context: Mapping[str, str],
    head: DescribesRuns,
) -> None:
    """A finished run's ``report.md`` (every figure) and ``model_card.md``."""
    run.write_text(
        "report.md", render_report(card, document, context, head.figures_table(document))
    )
    run.write_text(CARD_FILE, render_model_card(card, cfg, document, context, head))


def read_model_card(run_path: str | Path) -> dict | None:
    """The front matter of a run's model card; None for a run that has none."""
    path = Path(run_path) / CARD_FILE
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    _, sep, rest = text.partition("---\n")
    front, sep2, _ = rest.partition("\n---\n")
    if not sep or not sep2:
        raise ValueError(f"{path} has no YAML front matter between '---' lines; rerun the task")
    data = yaml.safe_load(front)
    if not isinstance(data, dict) or data.get("medzoo_model_card") != CARD_VERSION:
        raise ValueError(
            f"{path} is not a medzoo model card of version {CARD_VERSION}; rerun the task"
        )
    return data
