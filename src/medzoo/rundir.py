"""The run directory: one folder per run, written once, never overwritten.

Layout: ``status.json`` (running, failed with its error, or finished), ``config.yaml``
(resolved), ``manifest.csv`` (every image with its split), ``metrics.json``,
``predictions.csv``, ``report.md``, ``roc.png``, ``confusion.png``, ``checkpoints/`` and
``logs/``.

``status.json`` is the one file that changes: a run is ``running`` from the moment its folder
exists, and ends ``finished`` or ``failed``. A run killed outright (SIGKILL, power loss) stays
``running``. Commands that read a run's results refuse any run that did not finish, so a half-
written folder is never mistaken for a result.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig, OmegaConf

from medzoo.errors import ManifestError

STATUS_FILE = "status.json"
STATES = ("running", "failed", "finished")
_NOTE = "_medzoo_run_note"  # set on an exception that stopped a run: where and how to go on


class RunStateError(ValueError):
    """A run that did not finish was asked for its results; the message names the cause."""


def failure_note(err: BaseException) -> str:
    """What ``RunDirectory.attempt`` recorded on ``err``: the run it stopped and how to go on."""
    return getattr(err, _NOTE, "")


INTERRUPTED = "interrupted (Ctrl-C)"


def _describe(err: BaseException) -> str:
    if isinstance(err, KeyboardInterrupt):
        return INTERRUPTED
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


class RunDirectory:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @classmethod
    def create(cls, base: str | Path, name: str) -> RunDirectory:
        """A fresh ``base/name/<timestamp>[-k]`` folder; an existing run is never reused."""
        parent = Path(base) / name
        parent.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        for attempt in range(1000):
            path = parent / (stamp if attempt == 0 else f"{stamp}-{attempt}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            run = cls(path)
            run._write_status({"state": "running", "started": _now(), "pid": os.getpid()})
            return run
        raise FileExistsError(f"could not create a new run folder under {parent}")

    @classmethod
    def open(cls, path: str | Path) -> RunDirectory:
        """An existing run; raises with a clear message when ``path`` is not one."""
        run = cls(Path(path).expanduser())
        if not (run.path / "config.yaml").is_file():
            raise FileNotFoundError(
                f"{run.path} is not a medzoo run directory (no config.yaml); pass the folder "
                "that `python -m medzoo.train` printed, e.g. outputs/<task>/<timestamp>"
            )
        return run

    # -- status ---------------------------------------------------------------------------

    def _write_status(self, document: dict) -> None:
        partial = self.path / f".{STATUS_FILE}.{os.getpid()}.tmp"
        partial.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        partial.replace(self.path / STATUS_FILE)  # atomic: never half a status

    def status(self) -> dict:
        """``{"state": running | failed | finished, ...}``. A folder from before status files
        counts as finished when it holds ``metrics.json``, else as running."""
        target = self.path / STATUS_FILE
        if target.is_file():
            try:
                document = json.loads(target.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                document = {}
            if document.get("state") in STATES:
                return document
            return {"state": "failed", "error": f"{target} is unreadable"}
        legacy = (self.path / "metrics.json").is_file()
        return {"state": "finished" if legacy else "running"}

    @contextmanager
    def attempt(self) -> Iterator[RunDirectory]:
        """Everything a run does after its folder exists: ``finished`` when the block ends,
        ``failed`` with the error when anything (a crash, Ctrl-C, a full disk) stops it; the
        error goes on unchanged, carrying a note on where the run is and how to go on."""
        previous = self.status()
        earlier = list(previous.get("earlier_attempts", []))
        if previous["state"] == "failed":  # a resumed run keeps the story of its first try
            earlier.append(
                {k: previous[k] for k in ("started", "failed", "error") if k in previous}
            )
        document = {"state": "running", "started": _now(), "pid": os.getpid()}
        self._write_status({**document, **({"earlier_attempts": earlier} if earlier else {})})
        try:
            yield self
        except BaseException as err:
            self._record_failure(err)
            raise
        self._write_status({**self.status(), "state": "finished", "finished": _now()})

    def _record_failure(self, err: BaseException) -> None:
        document = {
            **self.status(),
            "state": "failed",
            "failed": _now(),
            "error": _describe(err),
            "traceback": traceback.format_exception(type(err), err, err.__traceback__)[-12:],
        }
        try:
            self._write_status(document)
            recorded = f"{self.path} is marked failed ({STATUS_FILE})"
        except OSError:  # e.g. the disk that stopped the run is still full
            recorded = f"{self.path} did not finish (its {STATUS_FILE} could not be written)"
        with suppress(AttributeError):  # an exception type that takes no attributes
            setattr(err, _NOTE, f"\n{recorded}; {self._how_to_go_on()}")

    def _how_to_go_on(self) -> str:
        if (self.checkpoints / "last.ckpt").is_file():
            return f"continue it with python -m medzoo.train resume={self.path}"
        return "its config.yaml holds the settings to train it again"

    def require_finished(self) -> RunDirectory:
        """This run, if it finished; else ``RunStateError`` naming the cause and the way on."""
        status = self.status()
        if status["state"] == "finished":
            return self
        if status["state"] == "failed":
            cause = f"it failed at {status.get('failed', '?')}: {status.get('error', '?')}"
        else:
            cause = (
                f"it is still running or was killed (status 'running' since "
                f"{status.get('started', '?')}, process {status.get('pid', '?')})"
            )
        raise RunStateError(
            f"{self.path} did not finish, so it has no results to use: {cause}. "
            f"{self._how_to_go_on().capitalize()}"
        )

    # -- contents ---------------------------------------------------------------------------

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    def file(self, name: str) -> Path:
        """Path for a new file; refuses to replace one that a run already wrote."""
        target = self.path / name
        if target.exists():
            raise FileExistsError(f"{target} exists; a run directory is written once")
        return target

    def write_text(self, name: str, text: str) -> Path:
        target = self.file(name)
        target.write_text(text, encoding="utf-8")
        return target

    def write_json(self, name: str, document: object) -> Path:
        return self.write_text(name, json.dumps(document, indent=2) + "\n")

    def write_config(self, cfg: DictConfig) -> Path:
        return self.write_text("config.yaml", OmegaConf.to_yaml(cfg, resolve=True))

    def read_config(self) -> DictConfig:
        return upgrade_config(OmegaConf.load(self.path / "config.yaml"))

    def read_json(self, name: str) -> dict:
        return json.loads((self.path / name).read_text(encoding="utf-8"))

    def check_split(self, current: pd.DataFrame, splits: Sequence[str] | None = None) -> None:
        """Raise unless ``current`` (a manifest built now) holds the images and splits this
        run saved in ``manifest.csv`` (only the rows of ``splits``, when given)."""
        saved = pd.read_csv(self.path / "manifest.csv", dtype=str, keep_default_na=False)
        current = current.astype({"image": str, "split": str})
        if splits is not None:
            saved = saved[saved["split"].isin(splits)]
            current = current[current["split"].isin(splits)]
        if (
            saved[["image", "split"]].to_numpy().tolist()
            != current[["image", "split"]].to_numpy().tolist()
        ):
            raise ManifestError(
                f"the data no longer match the split saved in {self.path / 'manifest.csv'} "
                "(images were added, removed or moved): continuing from this run would not be "
                "comparable. Restore the data, or train a new run."
            )

    def best_checkpoint(self) -> Path:
        for name in ("best.ckpt", "last.ckpt"):
            if (self.checkpoints / name).is_file():
                return self.checkpoints / name
        raise FileNotFoundError(f"no checkpoint in {self.checkpoints}; the run did not finish")


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def upgrade_config(cfg: DictConfig) -> DictConfig:
    """A run's config in today's layout, so that a run written by an earlier medzoo still
    loads: the detection head's settings moved from the top-level ``detector``, ``verifier``
    and ``detection`` blocks into ``head``; the text model's ``model.kind`` became
    ``model.estimator``."""
    layout = OmegaConf.to_container(cfg)
    if "detector" in layout and "head" not in layout:
        layout["head"] = {
            "detector": layout.pop("detector"),
            "verifier": layout.pop("verifier"),
            "iou": layout.pop("detection")["iou"],
        }
    model = layout.get("model") or {}
    if "kind" in model and "estimator" not in model:
        model["estimator"] = model.pop("kind")
    return OmegaConf.create(layout)
