"""Human-readable tables: the report's figures beside medzoo's, in markdown."""

from __future__ import annotations

from collections.abc import Mapping

from medzoo.tasks.card import TaskCard

BINARY_ROWS = (
    ("AUC", "auc"),
    ("sensitivity", "sensitivity"),
    ("specificity", "specificity"),
    ("accuracy", "accuracy"),
    ("PPV", "ppv"),
    ("NPV", "npv"),
    ("F1", "f1"),
)


def lookup(document: Mapping, dotted: str) -> object:
    node: object = document
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def format_figure(figure: object) -> str:
    """``0.912 (0.871–0.948)`` from ``{"value":…, "ci95":[…]}``; ``n/a`` when undefined."""
    if not isinstance(figure, Mapping) or figure.get("value") is None:
        return "n/a"
    text = f"{figure['value']:.3f}"
    lo, hi = figure.get("ci95") or (None, None)
    if lo is not None and hi is not None:
        text += f" ({lo:.3f}–{hi:.3f})"
    return text


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def side_by_side(card: TaskCard, document: Mapping) -> str:
    """The report's figures next to medzoo's (value and 95% CI) for every reference figure."""
    rows = []
    for ref in card.reference:
        reported = " / ".join(f"{v:g}" for v in ref.report) or "not reported"  # as printed
        if ref.note:
            reported += f" ({ref.note})"
        ours = format_figure(lookup(document, ref.metric)) if ref.metric else "no public data"
        rows.append((ref.label, reported, ours))
    return _table(
        ("figure", f"report ({card.section}, private data)", "medzoo (stand-in, 95% CI)"), rows
    )


def _binary_rows(block: Mapping) -> list[tuple[str, str]]:
    rows = [(label, format_figure(block.get(key))) for label, key in BINARY_ROWS]
    threshold = block.get("threshold") or {}
    if threshold:
        rows.append(
            (
                "threshold",
                f"{threshold['value']:.3f} "
                f"({threshold['method']}, chosen on {threshold['chosen_on']})",
            )
        )
    return rows


def figures_table(document: Mapping) -> str:
    """Every figure of a metrics document, one markdown table per view."""
    sections = []
    head = document["head"]
    if head == "binary":
        sections.append(_table(("figure", "test (95% CI)"), _binary_rows(document)))
    elif head == "multiclass":
        rows = [
            ("accuracy", format_figure(document["accuracy"])),
            ("macro AUC (one-vs-rest)", format_figure(document["auc_macro_ovr"])),
        ]
        for name, block in document["per_class"].items():
            rows.append((f"recall: {name} (n={block['n']})", format_figure(block["recall"])))
        sections.append(_table(("figure", "test (95% CI)"), rows))
    elif head == "segmentation":
        return _segmentation_tables(document)
    else:
        rows = [
            (
                name,
                format_figure(block["auc"]),
                format_figure(block["sensitivity"]),
                format_figure(block["specificity"]),
            )
            for name, block in document["per_label"].items()
        ]
        sections.append(_table(("label", "AUC", "sensitivity", "specificity"), rows))
    for name, block in (document.get("groups") or {}).items():
        positive = ", ".join(block["positive"])
        title = (
            f"**{name}** (positive: {positive}; n={block['n']}, positives={block['n_positive']})"
        )
        sections.append(title + "\n\n" + _table(("figure", "test (95% CI)"), _binary_rows(block)))
    return "\n\n".join(sections)


SEGMENTATION_ROWS = (
    ("Dice", "dice"),
    ("sensitivity", "sensitivity"),
    ("specificity", "specificity"),
    ("accuracy", "accuracy"),
    ("AUC", "auc"),
)


def _segmentation_tables(document: Mapping) -> str:
    human = document.get("human_reference") or {}
    pooled = document.get("pooled") or {}
    rows = []
    for label, key in SEGMENTATION_ROWS:
        pooled_value = pooled.get(key)
        rows.append(
            (
                label,
                format_figure(document.get(key)),
                "n/a" if pooled_value is None else f"{pooled_value:.3f}",
                format_figure(human.get(key)) if human else "no second observer",
            )
        )
    threshold = document["threshold"]
    parts = [
        _table(
            (
                "figure (inside the scoring region)",
                "model, mean over images (95% CI)",
                "model, pooled pixels",
                f"2nd observer vs 1st (n={human.get('n', 0)})",
            ),
            rows,
        ),
        f"Threshold {threshold['value']:.2f} ({threshold['method']}, chosen on "
        f"{threshold['chosen_on']}). The 2nd observer's mask is binary: it has no AUC.",
    ]
    quant_rows = []
    for name, block in (document.get("quantification") or {}).items():
        if "mae" not in block:
            continue
        second = (document.get("quantification_second_observer") or {}).get(name, {})
        quant_rows.append(
            (
                name,
                f"{block['manual_mean']:.4g}",
                f"{block['predicted_mean']:.4g}",
                format_figure(block["mae"]),
                format_figure(block["pearson_r"]),
                format_figure(second.get("pearson_r")) if second else "n/a",
            )
        )
    if quant_rows:
        header = (
            "measure",
            "manual mean",
            "predicted mean",
            "MAE (95% CI)",
            "Pearson r",
            "r, 2nd observer vs 1st",
        )
        parts += ["**Vessel quantification** (per test image)", _table(header, quant_rows)]
    return "\n\n".join(parts)


def confusion_table(document: Mapping) -> str:
    names = document["class_names"]
    matrix = document.get("confusion_matrix")
    if not matrix or len(matrix) != len(names):
        return ""
    rows = [
        (f"true {name}", *(str(v) for v in row)) for name, row in zip(names, matrix, strict=True)
    ]
    return _table(("", *(f"pred {n}" for n in names)), rows)


def render_report(card: TaskCard, document: Mapping, context: Mapping[str, str]) -> str:
    """The run's ``report.md``."""
    parts = [
        f"# {card.title} — `{card.name}` (report section {card.section})",
        "",
        *(f"- {key}: {value}" for key, value in context.items()),
        f"- stand-in data: {card.stand_in}",
        f"- data licence: {card.licence}",
        f"- test images: {document['n']}; 95% CIs: stratified bootstrap, "
        f"{document['bootstrap']['n']} replicates, seed {document['bootstrap']['seed']}",
    ]
    if card.reference:
        parts += ["", "## The report's figures beside medzoo's", "", side_by_side(card, document)]
        if card.reference_source:
            parts += ["", f"Report figures: {card.reference_source}"]
    parts += ["", "## All test figures", "", figures_table(document)]
    confusion = confusion_table(document)
    if confusion:
        parts += ["", "## Confusion matrix (test)", "", confusion]
    return "\n".join(parts) + "\n"
