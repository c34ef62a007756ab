from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the decoded-image cache of a test session out of the user's ~/.cache."""
    os.environ["MEDZOO_CACHE"] = str(tmp_path_factory.mktemp("medzoo-cache"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public stand-in datasets: $MEDZOO_DATA, else ../shared/data beside the repository."""
    root = Path(os.environ.get("MEDZOO_DATA") or REPO.parent / "shared" / "data")
    if not (root / "busi" / "labels.csv").is_file():
        pytest.skip(f"public stand-in data not found at {root} (set MEDZOO_DATA)")
    return root


@pytest.fixture(scope="session")
def phantom_command() -> str:
    """The command line ``phantom_run`` says it was trained by."""
    return "python -m medzoo.train data.params.n_per_class=30"


@pytest.fixture(scope="session")
def phantom_overrides() -> list[str]:
    """The overrides of ``phantom_run``: the main job shrunk to a 32 px phantom, one epoch."""
    return [
        "data.params.n_per_class=30",
        "data.params.size=32",
        "data.image_size=32",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "metrics.n_bootstrap=50",
    ]


@pytest.fixture(scope="session")
def phantom_run(
    tmp_path_factory: pytest.TempPathFactory, phantom_command: str, phantom_overrides: list[str]
) -> Path:
    """One finished tiny run of the main job (``phantom_overrides``), trained as if by
    ``phantom_command``: for tests of what reads finished runs. Copy it before changing it."""
    from medzoo.config import compose
    from medzoo.train import run_training

    out = tmp_path_factory.mktemp("phantom-run")
    return run_training(compose([*phantom_overrides, f"output_dir={out}"]), phantom_command).path
