"""``python -m medzoo.results record|render|check``: documented figures that come from runs.

A **record** (``results/<task>/<name>.json``) keeps one finished run's figures with what made
them: the command, the medzoo commit it ran at, the machine, the wall time and the run's
``metrics.json``. Pages (README.md, docs/**/*.md) show records between markers::

    <!-- results fundus_diseases/default -->
    (rendered: never edit by hand)
    <!-- /results -->

``table=all`` after the name shows every figure of the head instead of the report's side by
side; ``table=headline`` the report's side by side without the rows medzoo has no data for.
``render`` rewrites every marked block from its record; ``check`` fails when a page differs
from what its records render, and flags records made at a commit whose training code
(``src/medzoo`` but this module, ``configs``) differs from the checkout's: their figures are
stale until the command is rerun and recorded again.

    python -m medzoo.results record run=<run dir> [name=default] [results=results]
    python -m medzoo.results render [results=results]
    python -m medzoo.results check [results=results]
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from medzoo.commands import UsageError, key_values, user_errors
from medzoo.heads import head_of
from medzoo.reporting.report import ci_method, side_by_side
from medzoo.rundir import RunDirectory
from medzoo.tasks import get_card

BLOCK = re.compile(
    r"(?P<open><!-- results (?P<key>[\w.-]+/[\w.-]+)(?P<options>[^>]*?) -->\n)"
    r"(?P<body>.*?)"
    r"(?P<close><!-- /results -->)",
    re.DOTALL,
)
# What a record's figures depend on: medzoo's code and configs, but not this module, which only
# lays figures out (a change here shows as pages that differ from their records).
TRAINING_CODE = ("src/medzoo", "configs", ":(exclude)src/medzoo/results.py")
TABLES = ("reference", "headline", "all")
PAGES = ("README.md", "docs")


@dataclass(frozen=True)
class Block:
    page: Path
    key: str  # <task>/<name>
    table: str  # "reference" (the report's figures beside medzoo's) or "all"
    body: str


def record_path(results: Path, key: str) -> Path:
    return results / f"{key}.json"


def make_record(run_dir: str | Path) -> dict:
    """A record of a finished run, refused when the run cannot say which code made it."""
    run = RunDirectory.open(run_dir).require_finished()
    provenance_file = run.path / "provenance.json"
    if not provenance_file.is_file():
        raise UsageError(
            f"{run.path} has no provenance.json (written by medzoo since results records "
            "exist): rerun the command to record its figures"
        )
    provenance = json.loads(provenance_file.read_text(encoding="utf-8"))
    if not provenance.get("command"):
        raise UsageError(
            f"{run.path} was trained from Python, without a command line to rerun it: train "
            "it with python -m medzoo.train ... to record its figures"
        )
    code = provenance["code"]
    if not code.get("commit") or code.get("dirty"):
        state = "uncommitted changes" if code.get("dirty") else "no git commit"
        raise UsageError(
            f"{run.path} ran with {state} in medzoo's code: no commit reproduces it. Commit, "
            "rerun the command and record that run"
        )
    status = run.status()
    started = datetime.fromisoformat(status["started"])
    finished = datetime.fromisoformat(status["finished"])
    return {
        "task": run.read_config().task.name,
        "command": provenance["command"],
        "commit": code["commit"],
        "machine": provenance["machine"],
        "cpu": provenance.get("cpu"),
        "cores": provenance.get("cores"),
        "started": status["started"],
        "wall_time_s": round((finished - started).total_seconds()),
        "metrics": run.read_json("metrics.json"),
    }


def write_record(run_dir: str | Path, results: Path, name: str = "default") -> Path:
    record = make_record(run_dir)
    path = record_path(results, f"{record['task']}/{name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def read_record(results: Path, key: str, page: Path) -> dict:
    path = record_path(results, key)
    if not path.is_file():
        raise UsageError(
            f"{page} shows results {key!r}, but {path} does not exist: record a run with "
            f"python -m medzoo.results record run=<run dir> name={key.split('/')[1]}"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def _minutes(seconds: int) -> str:
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def render_block(record: dict, table: str, key: str) -> str:
    """The markdown a page shows for ``record``: its table, how its CIs were made, and the
    command, commit, machine and wall time that produced it."""
    document = record["metrics"]
    card = get_card(record["task"])
    if table == "all" or not card.reference:
        figures = head_of(card).figures_table(document)
    else:
        figures = side_by_side(card, document)
        if table == "headline":
            figures = "\n".join(
                line for line in figures.splitlines() if not line.endswith("| no public data |")
            )
    machine = record["machine"]
    if record.get("cpu"):
        machine = f"{record['cpu']}, {record.get('cores')} cores; {machine}"
    took = _minutes(record["wall_time_s"])
    return (
        f"{figures}\n\n{ci_method(document)}. Test n = {document.get('n')}.\n\n"
        f"`{record['command']}` at commit {record['commit'][:7]} on {machine}: {took} from the "
        f"run folder's creation to its last file (record: `results/{key}.json`).\n"
    )


def _block(page: Path, match: re.Match) -> Block:
    options = dict(part.split("=", 1) for part in match["options"].split() if "=" in part)
    table = options.get("table", "reference")
    if table not in TABLES:
        raise UsageError(f"{page}: results {match['key']}: table={table!r} ({'|'.join(TABLES)})")
    return Block(page, match["key"], table, match["body"])


def blocks(pages: Iterable[Path]) -> list[Block]:
    return [
        _block(page, match)
        for page in pages
        for match in BLOCK.finditer(page.read_text(encoding="utf-8"))
    ]


def rendered(block: Block, results: Path) -> str:
    """What ``block`` should hold: its record, rendered."""
    return render_block(read_record(results, block.key, block.page), block.table, block.key)


def page_files(root: Path) -> list[Path]:
    files = []
    for entry in PAGES:
        path = root / entry
        files += sorted(path.rglob("*.md")) if path.is_dir() else [path] if path.is_file() else []
    return files


def render_pages(pages: Sequence[Path], results: Path) -> list[Path]:
    """Rewrite every marked block from its record; returns the pages that changed."""
    changed = []
    for page in pages:
        text = page.read_text(encoding="utf-8")
        new = BLOCK.sub(
            lambda m, page=page: f"{m['open']}{rendered(_block(page, m), results)}{m['close']}",
            text,
        )
        if new != text:
            page.write_text(new, encoding="utf-8")
            changed.append(page)
    return changed


def drifted(pages: Sequence[Path], results: Path) -> list[str]:
    """Blocks whose text differs from what their records render."""
    return [
        f"{block.page}: results {block.key}"
        for block in blocks(pages)
        if block.body != rendered(block, results)
    ]


def training_code_changed(commit: str, root: Path) -> bool | None:
    """Whether ``TRAINING_CODE`` differs between ``commit`` and the checkout (committed or
    not); None when git cannot tell (no repository, unknown commit)."""
    try:
        out = subprocess.run(
            ["git", "diff", "--quiet", commit, "--", *TRAINING_CODE],
            cwd=root,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {0: False, 1: True}.get(out.returncode)


def stale(
    results: Path, root: Path, changed: Callable[[str, Path], bool | None] = training_code_changed
) -> list[str]:
    """Records whose training code differs from the checkout's (or cannot be compared)."""
    flagged = []
    for path in sorted(results.rglob("*.json")):
        commit = json.loads(path.read_text(encoding="utf-8"))["commit"]
        verdict = changed(commit, root)
        if verdict is None:
            flagged.append(f"{path}: commit {commit[:7]} cannot be compared with this checkout")
        elif verdict:
            flagged.append(f"{path}: training code changed since commit {commit[:7]}; rerun it")
    return flagged


USAGE = (
    "usage: python -m medzoo.results record run=<run dir> [name=default] [results=results] | "
    "render [results=results] | check [results=results]"
)


def main(argv: Sequence[str] | None = None) -> None:
    arguments = list(sys.argv[1:] if argv is None else argv)
    with user_errors():
        if not arguments or arguments[0] not in ("record", "render", "check"):
            raise UsageError(USAGE)
        action, rest = arguments[0], arguments[1:]
        options = key_values(rest, ("run", "name", "results"), USAGE)
        results, root = Path(options.get("results", "results")), Path.cwd()
        if action == "record":
            if "run" not in options:
                raise UsageError(f"missing run=; {USAGE}")
            path = write_record(options["run"], results, options.get("name", "default"))
            print(f"written: {path}")
            return
        pages = page_files(root)
        if action == "render":
            changed = render_pages(pages, results)
            print("\n".join(f"rendered: {p}" for p in changed) or "every page is up to date")
            return
        for line in stale(results, root):
            print(f"stale: {line}")
        drift = drifted(pages, results)
        if drift:
            raise UsageError(
                "pages differ from their records (run python -m medzoo.results render):\n"
                + "\n".join(drift)
            )
        print(f"{len(blocks(pages))} result blocks match their records")


if __name__ == "__main__":
    main()
