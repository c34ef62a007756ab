"""Releases: a trained task model as a folder laid out the way the Hugging Face Hub and timm
lay out theirs, checked on every load.

    model.safetensors  the network's weights, tensors only (nothing that runs when read)
    config.json        what rebuilds it: task, head, classes, preprocessing, the module's
                       hyperparameters, medzoo's version and commit, the headline figure
    README.md          the model card, with the Hub's front matter (license, tags, datasets,
                       base model, and a model-index block carrying the test figures)
    metrics.json       the run's test figures with their CIs
    SHA256SUMS         the sha256 of each file above (``sha256sum -c`` reads it)

``load(source)`` takes a release folder, ``hf-hub:<org>/<name>[@revision]`` (through
``huggingface_hub``, so its cache and ``HF_HUB_OFFLINE`` behave as they do for timm), a task
name (the task's release in the local zoo, ``$MEDZOO_HOME/zoo/<task>``) or, as
``medzoo.load`` does, a run folder or checkpoint; each gives the same ``Predictor``.
``python -m medzoo.publish`` writes releases.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from medzoo.errors import UsageError
from medzoo.heads import head_of
from medzoo.loading import load as load_run
from medzoo.predictor import Predictor

RELEASE_VERSION = 1
WEIGHTS, CONFIG, README, METRICS, SUMS = (
    "model.safetensors",
    "config.json",
    "README.md",
    "metrics.json",
    "SHA256SUMS",
)
FILES = (WEIGHTS, CONFIG, README, METRICS)
HUB_PREFIX = "hf-hub:"


class ReleaseError(UsageError):
    """A release that cannot be read, found or trusted; the message names the file and the fix."""


def medzoo_home() -> Path:
    """``$MEDZOO_HOME``, else medzoo's folder in the user's cache (``$XDG_CACHE_HOME``)."""
    if os.environ.get("MEDZOO_HOME"):
        return Path(os.environ["MEDZOO_HOME"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "medzoo"


def zoo_dir() -> Path:
    return medzoo_home() / "zoo"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_sums(folder: Path) -> None:
    lines = [f"{sha256(folder / name)}  {name}\n" for name in FILES]
    (folder / SUMS).write_text("".join(lines), encoding="utf-8")


def verify(folder: Path) -> None:
    """Every file of the release is present and matches SHA256SUMS; else ``ReleaseError``."""
    sums = folder / SUMS
    if not sums.is_file():
        raise ReleaseError(
            f"{folder} has no {SUMS}: it is not a medzoo release (write one with python -m "
            "medzoo.publish run=<run dir> out=<folder>)"
        )
    listed = {}
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        listed[name.strip()] = digest.strip()
    for name in FILES:
        path = folder / name
        if name not in listed or not path.is_file():
            raise ReleaseError(
                f"{path} is missing from the release or from its {SUMS}: fetch or publish the "
                "release again"
            )
        if sha256(path) != listed[name]:
            raise ReleaseError(
                f"{path} does not match its {SUMS} entry: the file changed after the release "
                "was published. Refused; fetch or publish the release again"
            )


def read_config(folder: Path) -> dict:
    """The release's config.json, after every file is verified."""
    verify(folder)
    config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    if config.get("medzoo_release") != RELEASE_VERSION:
        raise ReleaseError(
            f"{folder / CONFIG} is a release of version {config.get('medzoo_release')!r}; this "
            f"medzoo reads version {RELEASE_VERSION}: install the medzoo that wrote it"
        )
    return config


def load_release(folder: str | Path) -> Predictor:
    """The ``Predictor`` of a release folder (verified first)."""
    from safetensors.torch import load_file

    folder = Path(folder).expanduser()
    config = read_config(folder)
    # Pretrained-weight sources are not consulted: the release holds every weight.
    hparams = {**config["hparams"], "pretrained": False, "weights": None}
    module = head_of(hparams["head"]).module_class(**hparams)
    module.load_state_dict(load_file(folder / WEIGHTS, device="cpu"))
    return Predictor(module, config["preprocessing"])


def hub_snapshot(spec: str) -> Path:
    """The local folder of ``<org>/<name>[@revision]`` from the Hugging Face Hub (its cache;
    nothing is fetched when ``HF_HUB_OFFLINE`` is set)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError

    repo, _, revision = spec.partition("@")
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise ReleaseError(f"{HUB_PREFIX}{spec}: name a Hub repository as hf-hub:<org>/<name>")
    try:
        return Path(snapshot_download(repo_id=repo, revision=revision or None))
    except LocalEntryNotFoundError as err:
        raise ReleaseError(
            f"{HUB_PREFIX}{spec} is not in the Hugging Face cache and cannot be downloaded "
            f"(HF_HUB_OFFLINE is set, or there is no network): run once online, or "
            f"`huggingface-cli download {repo}`, then load it offline ({err.__class__.__name__})"
        ) from err
    except RepositoryNotFoundError as err:
        raise ReleaseError(f"{HUB_PREFIX}{spec}: no such repository on the Hub") from err


def is_release(path: Path) -> bool:
    """Whether ``path`` is a release folder (rather than a run folder or a checkpoint)."""
    return path.is_dir() and ((path / SUMS).is_file() or (path / WEIGHTS).is_file())


def load(source: str | Path) -> Predictor:
    """A ``Predictor`` from a release folder, ``hf-hub:<org>/<name>[@rev]``, a task name (its
    release in the local zoo), or a run folder or checkpoint (``medzoo.load``)."""
    text = str(source)
    if text.startswith(HUB_PREFIX):
        return load_release(hub_snapshot(text[len(HUB_PREFIX) :]))
    path = Path(text).expanduser()
    if path.exists():
        return load_release(path) if is_release(path) else load_run(path)
    entry = zoo_dir() / text
    if "/" not in text and entry.is_dir():
        return load_release(entry)
    available = ", ".join(sorted(model["task"] for model in list_models())) or "none"
    raise ReleaseError(
        f"{text!r} is no release or run folder, no hf-hub:<org>/<name>, and no task in the "
        f"local zoo {zoo_dir()} (there: {available}). Publish a run there with python -m "
        "medzoo.publish run=<run dir> zoo=true"
    )


def list_models() -> list[dict]:
    """The local zoo's releases: task, head, headline test figure and folder, by task name."""
    models = []
    folder = zoo_dir()
    for entry in sorted(folder.iterdir()) if folder.is_dir() else ():
        config_file = entry / CONFIG
        if "." in entry.name or not config_file.is_file():  # .<task>.new, <task>.previous
            continue
        config = json.loads(config_file.read_text(encoding="utf-8"))
        models.append(
            {
                "task": config.get("task"),
                "head": config.get("head"),
                "headline": config.get("headline"),
                "path": str(entry),
            }
        )
    return models


def state_dict_for_release(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The module's weights as safetensors stores them: contiguous, no shared storage."""
    return {
        name: tensor.detach().contiguous().clone() for name, tensor in module.state_dict().items()
    }
