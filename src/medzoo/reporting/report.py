"""Human-readable tables: the report's figures beside medzoo's, in markdown."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
    """``0.912 (0.871–0.948)`` from ``{"value":…, "ci95":[…]}``, ``0.912`` from a bare
    number; ``n/a`` when undefined."""
    if isinstance(figure, (int, float)) and not isinstance(figure, bool):
        return f"{figure:.3f}"
    if not isinstance(figure, Mapping) or figure.get("value") is None:
        return "n/a"
    text = f"{figure['value']:.3f}"
    lo, hi = figure.get("ci95") or (None, None)
    if lo is not None and hi is not None:
        text += f" ({lo:.3f}–{hi:.3f})"
    return text


def markdown_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
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
    return markdown_table(
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


def binary_table(document: Mapping) -> str:
    """The binary figures of a document (or of one class group's block)."""
    return markdown_table(("figure", "test (95% CI)"), _binary_rows(document))


def multiclass_table(document: Mapping) -> str:
    rows = [
        ("accuracy", format_figure(document["accuracy"])),
        *(
            [("balanced accuracy (mean recall)", format_figure(document["balanced_accuracy"]))]
            if "balanced_accuracy" in document  # documents written before it have none
            else []
        ),
        ("macro AUC (one-vs-rest)", format_figure(document["auc_macro_ovr"])),
    ]
    for name, block in document["per_class"].items():
        rows.append((f"recall: {name} (n={block['n']})", format_figure(block["recall"])))
    decision = document.get("decision") or {}  # documents written before it have none
    if decision.get("method") == "prior":
        rows.append(("decision", "argmax of probability ÷ class frequency (chosen on val)"))
    return markdown_table(("figure", "test (95% CI)"), rows)


def multilabel_table(document: Mapping) -> str:
    rows = [
        (
            name,
            format_figure(block["auc"]),
            format_figure(block["sensitivity"]),
            format_figure(block["specificity"]),
        )
        for name, block in document["per_label"].items()
    ]
    return markdown_table(("label", "AUC", "sensitivity", "specificity"), rows)


def ordinal_table(block: Mapping, class_names: Sequence[str]) -> str:
    """The figures of ordered grades (``metrics.ordinal.ordinal_block``), then the confusion
    matrix of the grade they score (the median of each image's distribution)."""
    main = ", ".join(class_names[k] for k in block["main_grades"])
    rows = [
        ("quadratic-weighted kappa", format_figure(block["quadratic_kappa"])),
        ("mean absolute grade error", format_figure(block["grade_mae"])),
        ("accuracy, every grade", format_figure(block["accuracy"])),
        (
            f"accuracy, main grades ({main}; n={block['n_main']})",
            format_figure(block["accuracy_main"]),
        ),
    ]
    figures = markdown_table((f"ordered grades ({block['decision']})", "test (95% CI)"), rows)
    confusion = markdown_table(
        ("", *(f"pred {n}" for n in class_names)),
        [
            (f"true {name}", *(str(c) for c in counts))
            for name, counts in zip(class_names, block["confusion_matrix"], strict=True)
        ],
    )
    return f"{figures}\n\n{confusion}"


def with_views(main: str, document: Mapping) -> str:
    """A classification document's main table, then one per class group and per unit-level
    view it holds."""
    sections = [main]
    for name, block in (document.get("groups") or {}).items():
        positive = ", ".join(block["positive"])
        title = (
            f"**{name}** (positive: {positive}; n={block['n']}, positives={block['n_positive']})"
        )
        sections.append(f"{title}\n\n{binary_table(block)}")
    sections += _unit_level_tables(document.get("unit_level"))
    return "\n\n".join(sections)


def _unit_level_tables(unit_level: Mapping | None) -> list[str]:
    if not unit_level:
        return []
    unit, tables = unit_level["unit"], []
    for view, block in unit_level["views"].items():
        if "undefined" in block:
            tables.append(f"**{view}, per {unit}**: no figures ({block['undefined']})")
            continue
        rule = block["rule"]
        tried = ", ".join(f"{name} {auc:.3f}" for name, auc in rule["val_auc"].items())
        title = (
            f"**{view}, per {unit}** ({block['n']} {unit}s, positives={block['n_positive']}; "
            f"{unit} score = {rule['value']} of its image scores, chosen on validation "
            f"by AUC: {tried})"
        )
        table = markdown_table(("figure", "test (95% CI)"), _binary_rows(block))
        tables.append(f"{title}\n\n{table}")
    return tables


DETECTION_ROWS = (
    ("detector alone", "detector_alone"),
    ("detector + verifier", "detector_verifier"),
    # video sequences only: boxes kept where they persist over frames
    ("detector + verifier, 3-of-5 persistence", "detector_verifier_persistent"),
)


def detection_table(document: Mapping) -> str:
    """Recall, precision, F1 at the document's IoU and AP, one row per pipeline stage."""
    rows = []
    for label, key in DETECTION_ROWS:
        if key not in document:
            continue
        block = document[key]
        rows.append(
            (
                label,
                *(format_figure(block[name]) for name in ("recall", "precision", "f1")),
                format_figure(block["ap"]),
                f"{block['tp']} / {block['fp']} / {block['fn']}",
            )
        )
    header = (
        "pipeline",
        "recall",
        "precision",
        "F1",
        f"AP{round(document['iou'] * 100)}",
        "TP / FP / FN",
    )
    parts = [markdown_table(header, rows)]
    by_sequence = document.get("by_sequence")
    if by_sequence:
        rows = [
            (
                label,
                f"≥ {block['k']}",
                f"{format_figure(block['found'])} ({block['sequences_found']} of "
                f"{block['sequences']})",
                format_figure(block["false_boxes_per_sequence"]),
                format_figure(block["false_boxes_per_frame"]),
            )
            for label, key in DETECTION_ROWS
            for block in (by_sequence.get(key) or {}).values()
        ]
        header = (
            "pipeline",
            "found in k frames",
            "sequences found",
            "false boxes per sequence",
            "false boxes per frame",
        )
        parts += [
            "**Per sequence** (a sequence's lesion is found when it is detected in at least k "
            "of its frames)",
            markdown_table(header, rows),
        ]
    return "\n\n".join(parts)


def items_table(document: Mapping) -> str:
    rows = [
        (
            item,
            " / ".join(
                f"{g} {n}" for g, n in zip(block["grades"], block["n_per_grade"], strict=True)
            ),
            format_figure(block["accuracy"]),
            format_figure(block["weighted_kappa"]),
        )
        for item, block in document["per_item"].items()
    ]
    header = ("item", "test cases per grade", "accuracy (95% CI)", "weighted kappa (95% CI)")
    mean_kappa = document.get("mean_weighted_kappa")
    return (
        markdown_table(header, rows)
        + f"\n\nMean over items: accuracy {document['mean_accuracy']:.3f}, quadratic-weighted "
        + f"kappa {'n/a' if mean_kappa is None else f'{mean_kappa:.3f}'}. Kappa is undefined "
        + "(n/a) when truth and prediction hold one grade only."
    )


SEGMENTATION_ROWS = (
    ("Dice", "dice"),
    ("IoU", "iou"),
    ("sensitivity", "sensitivity"),
    ("specificity", "specificity"),
    ("accuracy", "accuracy"),
    ("AUC", "auc"),
)


def segmentation_tables(document: Mapping) -> str:
    """Pixel figures (with the second observer's where a dataset has one), quantification."""
    human = document.get("human_reference") or {}
    second_quant = document.get("quantification_second_observer") or {}
    pooled = document.get("pooled") or {}
    rows = []
    for label, key in SEGMENTATION_ROWS:
        if key not in document:  # a document written before medzoo reported the figure
            continue
        pooled_value = pooled.get(key)
        row = [
            label,
            format_figure(document.get(key)),
            "n/a" if pooled_value is None else f"{pooled_value:.3f}",
        ]
        rows.append(tuple([*row, format_figure(human.get(key))] if human else row))
    header = [
        "figure (inside the scoring region)",
        "model, mean over images (95% CI)",
        "model, pooled pixels",
    ]
    if human:
        header.append(f"2nd observer vs 1st (n={human['n']})")
    threshold = document["threshold"]
    note = (
        f"Threshold {threshold['value']:.2f} ({threshold['method']}, chosen on "
        f"{threshold['chosen_on']})."
    )
    if human:
        note += " The 2nd observer's mask is binary: it has no AUC."
    parts = [markdown_table(tuple(header), rows), note]
    quant_rows = []
    for name, block in (document.get("quantification") or {}).items():
        if "mae" not in block:
            continue
        row = [
            name,
            f"{block['manual_mean']:.4g}",
            f"{block['predicted_mean']:.4g}",
            format_figure(block["mae"]),
            format_figure(block["pearson_r"]),
        ]
        if second_quant:
            row.append(format_figure((second_quant.get(name) or {}).get("pearson_r")))
        quant_rows.append(tuple(row))
    if quant_rows:
        quant_header = ["measure", "manual mean", "predicted mean", "MAE (95% CI)", "Pearson r"]
        if second_quant:
            quant_header.append("r, 2nd observer vs 1st")
        parts += [
            "**Quantification** (per test image)",
            markdown_table(tuple(quant_header), quant_rows),
        ]
    points = document.get("point_detection")
    if points:
        rows = [(name, format_figure(points[name])) for name in ("precision", "recall", "f1")]
        parts += [
            f"**Point detection** (blob centroids matched one-to-one within "
            f"{points['max_distance_px']:g} px; TP {points['tp']}, FP {points['fp']}, "
            f"FN {points['fn']})",
            markdown_table(("figure", "test, pooled over images (95% CI)"), rows),
        ]
    return "\n\n".join(parts)


def confusion_table(document: Mapping) -> str:
    names = document["class_names"]
    matrix = document.get("confusion_matrix")
    if not matrix or len(matrix) != len(names):
        return ""
    rows = [
        (f"true {name}", *(str(v) for v in row)) for name, row in zip(names, matrix, strict=True)
    ]
    return markdown_table(("", *(f"pred {n}" for n in names)), rows)


def ci_method(document: Mapping) -> str:
    """How a metrics document's 95% CIs were made, in words: what the bootstrap resampled
    (``bootstrap.unit``, ``bootstrap.n_units``) and which figures are exact instead."""
    boot = document.get("bootstrap") or {}
    unit = str(boot.get("unit") or "image")
    n_units = boot.get("n_units", document.get("n"))
    plural = unit if n_units == 1 else f"{unit}s"
    text = f"95% CIs: bootstrap over {n_units} {plural}"
    if unit != "image":
        text += " (each with all its test images)"
    if boot.get("stratified_by"):
        text += f", stratified by {boot['stratified_by']}"
    if "n" in boot:
        text += f"; {boot['n']} replicates, seed {boot.get('seed')}"
    if boot.get("proportions") == "Clopper-Pearson":
        text += "; sensitivity, specificity, accuracy, PPV, NPV: exact Clopper-Pearson"
    return text


def render_report(
    card: TaskCard, document: Mapping, context: Mapping[str, str], tables: str
) -> str:
    """The run's ``report.md``; ``tables``: every figure, as the run's head lays them out."""
    parts = [
        f"# {card.title} — `{card.name}` (report section {card.section})",
        "",
        *(f"- {key}: {value}" for key, value in context.items()),
        f"- stand-in data: {card.stand_in}",
        f"- data licence: {card.licence}",
        f"- test images: {document['n']}; {ci_method(document)}",
    ]
    if card.reference:
        parts += ["", "## The report's figures beside medzoo's", "", side_by_side(card, document)]
        if card.reference_source:
            parts += ["", f"Report figures: {card.reference_source}"]
    parts += ["", "## All test figures", "", tables, "", f"{ci_method(document)}."]
    confusion = confusion_table(document)
    if confusion:
        parts += ["", "## Confusion matrix (test)", "", confusion]
    return "\n".join(parts) + "\n"


def summary(card: TaskCard, document: Mapping, tables: str) -> str:
    """What the CLI prints at the end: the side-by-side table, then every figure."""
    parts = [f"{card.name} — test split, n={document['n']}"]
    if card.reference:
        parts += ["", side_by_side(card, document)]
    parts += ["", tables, "", ci_method(document)]
    return "\n".join(parts)
