"""The text head: report-text classification by a scikit-learn TF-IDF + logistic-regression
baseline, trained and evaluated with the same splits, metrics, report and run directory as the
image tasks (its figures follow the binary protocol).

The fitted model is written as ``model.json`` (vocabulary, idf weights, coefficients): plain
numbers that load without unpickling anything.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from medzoo.data.coverage import check_coverage
from medzoo.data.manifest import ManifestError
from medzoo.data.recipes import manifest_from_config
from medzoo.data.splits import ensure_splits
from medzoo.environment import machine_description
from medzoo.errors import UsageError
from medzoo.heads.base import Head, PreparedManifest
from medzoo.heads.classification import ClassificationHead, binary_coverage
from medzoo.metrics.protocol import Predictions
from medzoo.reporting.report import binary_table, with_views
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import TaskCard

log = logging.getLogger(__name__)


def text_manifest(cfg: DictConfig, card: TaskCard) -> pd.DataFrame:
    """The report manifest with its grouped, stratified split; unknown labels are an error."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    frame, source = manifest_from_config(data)
    unknown = sorted(set(frame["label"]) - set(card.class_names))
    if unknown:
        raise ManifestError(f"{source}: labels {unknown} are not among {list(card.class_names)}")
    split = data.get("split") or {}
    fractions = split.get("fractions", {"train": 0.7, "val": 0.15, "test": 0.15})
    frame = ensure_splits(frame, fractions, int(split.get("seed", 0)), source, split.get("cv"))
    check_coverage(frame, card.class_names, binary_coverage(card), source)
    return frame


TEXT_ESTIMATORS = ("tfidf_logreg",)


def build_text_model(cfg: DictConfig) -> Pipeline:
    model = OmegaConf.to_container(cfg.model, resolve=True)
    if model.get("estimator") not in TEXT_ESTIMATORS:
        given = model.get("estimator") or model.get("backbone") or "this"
        raise UsageError(
            f"the text head fits a scikit-learn estimator, not the {given!r} model; choose "
            f"model=tfidf_logreg (text estimators: {', '.join(TEXT_ESTIMATORS)})"
        )
    tfidf = dict(model.get("tfidf") or {})
    if "ngram_range" in tfidf:
        tfidf["ngram_range"] = tuple(tfidf["ngram_range"])
    classifier = dict(model.get("classifier") or {})
    return Pipeline(
        [
            ("tfidf", TfidfVectorizer(**tfidf)),
            ("classifier", LogisticRegression(random_state=cfg.seed, **classifier)),
        ]
    )


def model_document(model: Pipeline, class_names: list[str]) -> dict:
    tfidf, classifier = model.named_steps["tfidf"], model.named_steps["classifier"]
    vocabulary = sorted(tfidf.vocabulary_, key=tfidf.vocabulary_.get)
    return {
        "kind": "tfidf_logreg",
        "class_names": class_names,
        "tfidf": {k: v for k, v in tfidf.get_params().items() if k != "dtype"},
        "vocabulary": vocabulary,
        "idf": tfidf.idf_.tolist(),
        "coef": classifier.coef_[0].tolist(),
        "intercept": float(classifier.intercept_[0]),
    }


class TextHead(ClassificationHead):
    """Binary report classification from text; the run's model is ``model.json``."""

    name = "text"
    protocol = "binary"
    module_class = None  # no checkpoint: the fitted model is plain numbers in model.json
    without_checkpoint = (
        "its model is model.json (no checkpoint), evaluated when trained (metrics.json)"
    )
    resumable = False
    explainable = False
    streams = None
    clips = None

    def module(self, cfg: DictConfig, card: TaskCard) -> Head:
        raise UsageError(
            f"task {card.name!r} uses the {cfg.model.estimator} model, which is not a "
            "LightningModule (its fitted model is model.json); train it with python -m "
            f"medzoo.train task={card.name}"
        )

    def figures_table(self, document: Mapping) -> str:
        return with_views(binary_table(document), document)

    def roc_curves(self, card: TaskCard, test: Predictions) -> dict:
        return {card.class_names[1]: (test.y, test.probs[:, 1])}

    def prepare(self, cfg: DictConfig, card: TaskCard) -> PreparedManifest:
        if len(card.class_names) != 2:
            raise ManifestError(
                f"task {card.name!r}: the text baseline classifies two classes, not "
                f"{list(card.class_names)}"
            )
        build_text_model(cfg)  # a model that is not a text estimator stops before any reading
        return PreparedManifest(text_manifest(cfg, card))

    def fit(self, cfg, card, run, prepared, command, resume_from=None) -> dict:
        started = time.perf_counter()
        frame = prepared.manifest
        index = {name: k for k, name in enumerate(card.class_names)}
        parts = {s: frame[frame["split"] == s] for s in ("train", "val", "test")}
        model = build_text_model(cfg)
        model.fit(parts["train"]["text"], parts["train"]["label"].map(index))
        preds = {
            s: Predictions(
                y=parts[s]["label"].map(index).to_numpy(),
                probs=model.predict_proba(parts[s]["text"]).astype(float),
            )
            for s in ("val", "test")
        }
        run.write_text("model.json", json.dumps(model_document(model, list(card.class_names))))
        context = {
            "command": command or "python -m medzoo.train",
            "machine": machine_description(),
            "training wall time": f"{time.perf_counter() - started:.0f} s",
            "model": "TF-IDF + logistic regression (model.json)",
        }
        frames = {s: parts[s] for s in preds}
        return self.write_evaluation(run, card, cfg, frames, preds, context)

    def preprocessing(self, card: TaskCard, cfg: DictConfig) -> dict[str, object]:
        return {"kind": str(cfg.model.estimator)}


def top_terms(run: RunDirectory, k: int = 10) -> dict[str, list[str]]:
    """The ``k`` terms pushing hardest towards each class, read back from ``model.json``."""
    model = run.read_json("model.json")
    order = np.argsort(model["coef"])
    vocabulary = model["vocabulary"]
    negative, positive = model["class_names"]
    return {
        positive: [vocabulary[i] for i in order[::-1][:k]],
        negative: [vocabulary[i] for i in order[:k]],
    }
