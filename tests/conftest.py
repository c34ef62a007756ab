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
