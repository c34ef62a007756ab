"""Report-text classification: a scikit-learn TF-IDF + logistic-regression baseline trained
and evaluated with the same splits, metrics, report and run directory as the image tasks.

The fitted model is written as ``model.json`` (vocabulary, idf weights, coefficients): plain
numbers that load without unpickling anything.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from medzoo.data.coverage import check_coverage
from medzoo.data.manifest import ManifestError
from medzoo.data.recipes import build_manifest, describe_source
from medzoo.data.splits import ensure_splits
from medzoo.metrics.protocol import Predictions
from medzoo.paths import data_root
from medzoo.pipeline import machine_description, summary, write_evaluation
from medzoo.rundir import RunDirectory
from medzoo.tasks.card import TaskCard

log = logging.getLogger(__name__)

TEXT_MODELS = ("tfidf_logreg",)


def is_text_task(cfg: DictConfig) -> bool:
    return cfg.model.get("kind") in TEXT_MODELS


def text_manifest(cfg: DictConfig, card: TaskCard) -> pd.DataFrame:
    """The report manifest with its grouped, stratified split; unknown labels are an error."""
    data = OmegaConf.to_container(cfg.data, resolve=True)
    root = data_root(data.get("root"))
    params = data.get("params") or {}
    source = describe_source(data["recipe"], root, params)
    frame = build_manifest(data["recipe"], root, data.get("allow_outside_root", False), **params)
    unknown = sorted(set(frame["label"]) - set(card.class_names))
    if unknown:
        raise ManifestError(f"{source}: labels {unknown} are not among {list(card.class_names)}")
    split = data.get("split") or {}
    fractions = split.get("fractions", {"train": 0.7, "val": 0.15, "test": 0.15})
    frame = ensure_splits(frame, fractions, int(split.get("seed", 0)), source, split.get("cv"))
    check_coverage(frame, card.head, card.class_names, card.class_groups, source)
    return frame


def build_text_model(cfg: DictConfig) -> Pipeline:
    model = OmegaConf.to_container(cfg.model, resolve=True)
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


def run_text_training(cfg: DictConfig, card: TaskCard, command: str) -> RunDirectory:
    started = time.perf_counter()
    if card.head != "binary":
        raise ManifestError(f"task {card.name!r}: the text baseline supports binary heads only")
    frame = text_manifest(cfg, card)
    run = RunDirectory.create(cfg.output_dir, card.name)
    log.info("run directory: %s", run.path)
    with run.attempt():
        run.write_config(cfg)
        frame.to_csv(run.file("manifest.csv"), index=False)
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
        document = write_evaluation(run, card, cfg, frames, preds, context)
    print("\n" + summary(card, document) + f"\n\nrun directory: {run.path}")
    return run


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
