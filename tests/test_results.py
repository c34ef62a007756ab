"""Results records: a finished run becomes a record with its command and commit, pages show
records between markers, and a page that differs from its records, or a record made at other
training code, is caught."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from medzoo.commands import UsageError
from medzoo.experiment import run_experiment
from medzoo.results import (
    blocks,
    drifted,
    make_experiment_record,
    make_record,
    page_files,
    render_experiment_block,
    render_pages,
    stale,
    write_record,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def run_dir(phantom_run: Path, tmp_path: Path) -> Path:
    """A copy of the session's phantom run, whose provenance these tests rewrite."""
    return Path(shutil.copytree(phantom_run, tmp_path / "run"))


def _as_committed(run_dir: Path, commit: str = "a" * 40, dirty: bool = False) -> None:
    """The run's provenance as a clean checkout at ``commit`` would have written it."""
    path = run_dir / "provenance.json"
    provenance = json.loads(path.read_text())
    provenance["code"] = {"commit": commit, "dirty": dirty}
    path.write_text(json.dumps(provenance))


def test_every_run_says_what_made_it(run_dir: Path, phantom_command: str) -> None:
    provenance = json.loads((run_dir / "provenance.json").read_text())
    assert provenance["command"] == phantom_command
    assert provenance["cores"] >= 1 and "torch" in provenance["machine"]
    assert set(provenance["code"]) == {"commit", "dirty"}


def test_a_record_renders_into_a_page_and_drift_is_caught(
    run_dir: Path, tmp_path: Path, phantom_command: str
) -> None:
    _as_committed(run_dir)
    results = tmp_path / "results"
    path = write_record(run_dir, results)
    record = json.loads(path.read_text())
    assert path == results / "phantom_us" / "default.json"
    assert record["metrics"] == json.loads((run_dir / "metrics.json").read_text())
    assert record["command"] == phantom_command and record["commit"] == "a" * 40
    page = tmp_path / "page.md"
    page.write_text("# Page\n\n<!-- results phantom_us/default -->\n<!-- /results -->\n\nEnd.\n")
    assert drifted([page], results)  # an empty block is not what the record renders
    assert render_pages([page], results) == [page]
    text = page.read_text()
    accuracy = f"{record['metrics']['accuracy']['value']:.3f}"
    assert accuracy in text and "commit aaaaaaa" in text and phantom_command in text
    assert text.startswith("# Page\n\n") and text.endswith("<!-- /results -->\n\nEnd.\n")
    assert drifted([page], results) == [] and render_pages([page], results) == []
    page.write_text(text.replace(accuracy, "0.999", 1))  # a hand-edited figure
    assert drifted([page], results) == [f"{page}: results phantom_us/default"]
    page.write_text(text.replace("phantom_us/default", "phantom_us/other"))
    with pytest.raises(UsageError, match="does not exist: record a run"):
        drifted([page], results)


def test_runs_no_commit_reproduces_are_refused(run_dir: Path) -> None:
    _as_committed(run_dir, dirty=True)
    with pytest.raises(UsageError, match="uncommitted changes"):
        make_record(run_dir)
    _as_committed(run_dir, commit=None)
    with pytest.raises(UsageError, match="no git commit"):
        make_record(run_dir)
    _as_committed(run_dir)


def test_a_record_carries_its_machines_calibration(run_dir: Path, tmp_path: Path) -> None:
    from medzoo.calibration import measure

    _as_committed(run_dir)
    calibration = measure(size=32, batch=2, steps=1, warmup=1, rounds=1)
    assert calibration.images_per_s > 0 and calibration.threads >= 1
    results = tmp_path / "results"
    write_record(run_dir, results, calibration=calibration)
    page = tmp_path / "page.md"
    page.write_text("<!-- results phantom_us/default -->\n<!-- /results -->\n")
    render_pages([page], results)
    assert f"calibration: resnet18 training {calibration.images_per_s:.1f} img/s at 32 px" in (
        page.read_text()
    )
    write_record(run_dir, results)  # without one, nothing is claimed
    render_pages([page], results)
    assert "calibration" not in page.read_text()


def test_records_of_other_training_code_are_flagged(tmp_path: Path) -> None:
    for name, commit in (("fresh", "f" * 40), ("old", "0" * 40), ("unknown", "9" * 40)):
        (tmp_path / "t").mkdir(exist_ok=True)
        (tmp_path / "t" / f"{name}.json").write_text(json.dumps({"commit": commit}))
    verdicts = {"f" * 40: False, "0" * 40: True, "9" * 40: None}
    flagged = stale(tmp_path, tmp_path, lambda commit, root, code: verdicts[commit])
    assert len(flagged) == 2
    assert "old.json: training code changed since commit 0000000" in flagged[0]
    assert "unknown.json: commit 9999999 cannot be compared" in flagged[1]


def test_the_documentation_shows_its_records_as_they_render() -> None:
    pages = page_files(REPO)
    if not blocks(pages):
        pytest.skip("no page shows a results record")
    assert drifted(pages, REPO / "results") == []


def test_git_tells_a_record_of_other_training_code() -> None:
    import subprocess

    from medzoo.results import training_code_changed

    first = subprocess.run(
        ["git", "rev-list", "--max-parents=0", "HEAD"], cwd=REPO, capture_output=True, text=True
    )
    if first.returncode != 0 or not first.stdout.strip():
        pytest.skip("not a git checkout with history")
    assert training_code_changed(first.stdout.split()[0], REPO) is True
    assert training_code_changed("9" * 40, REPO) is None


def _two_seed_experiment() -> object:
    from omegaconf import OmegaConf

    return OmegaConf.create(
        {
            "name": "phantom_seeds",
            "title": "Phantom, two seeds",
            "task": "phantom_us",
            "metrics": ["accuracy"],
            "columns": [{"key": "all", "label": "all", "data": "phantom", "overrides": []}],
            "rows": [{"key": "resnet", "label": "medzoo", "overrides": [], "report": {}}],
            "profiles": {"quick": {"overrides": [], "seeds": [0, 1]}},
        }
    )


def test_an_experiment_record_keeps_every_cell_from_one_commit(
    tmp_path: Path, phantom_overrides: list[str]
) -> None:
    experiment = _two_seed_experiment()
    folder = tmp_path / "experiment"
    extra = [*phantom_overrides, "data.params.n_per_class=20"]
    run_experiment(experiment, "quick", extra=extra, folder=folder)
    cells = json.loads((folder / "cells.json").read_text())
    assert sorted(cells) == ["resnet/all/seed0", "resnet/all/seed1"]
    runs = {key: Path(cell["run"]) for key, cell in cells.items()}
    for run in runs.values():
        _as_committed(run)
    record = make_experiment_record(folder, experiment)
    assert record["commit"] == "a" * 40 and record["experiment"] == "phantom_seeds"
    assert record["command"].startswith("python -m medzoo.experiment name=phantom_seeds ")
    for key, run in runs.items():
        assert record["cells"][key]["metrics"] == json.loads((run / "metrics.json").read_text())
    text = render_experiment_block(record, "phantom_seeds/quick", experiment)
    accuracies = sorted(cell["metrics"]["accuracy"]["value"] for cell in record["cells"].values())
    if accuracies[0] != accuracies[1]:  # the two runs' range is printed
        assert f"from {accuracies[0]:.3f}" in text and f"to {accuracies[1]:.3f}" in text
    assert "commit aaaaaaa" in text and "(n=2 runs)" in text

    # the same two runs as two rows that say they are replicates: their mean ± sd is printed
    by_rows = experiment.copy()
    by_rows.summary = "mean_over_rows"
    by_rows.rows = [{"key": k, "label": k, "overrides": [], "report": {}} for k in ("s0", "s1")]
    as_rows = {
        **record,
        "cells": {f"s{i}/all/seed0": c for i, c in enumerate(record["cells"].values())},
    }
    mean, sd = np.mean(accuracies), np.std(accuracies, ddof=1)
    assert f"accuracy {mean:.3f} ± {sd:.3f}" in render_experiment_block(as_rows, "k/quick", by_rows)
    # a figure written as a bare number (no interval) still shows, in each row and the mean
    for cell in as_rows["cells"].values():
        cell["metrics"] = {**cell["metrics"], "bare": cell["metrics"]["accuracy"]["value"]}
    by_rows.metrics = ["bare"]
    text = render_experiment_block(as_rows, "k/quick", by_rows)
    assert "n/a" not in text and f"bare {mean:.3f} ± {sd:.3f}" in text

    _as_committed(runs["resnet/all/seed1"], commit="b" * 40)
    with pytest.raises(UsageError, match="ran at 2 commits"):  # git cannot compare them
        make_experiment_record(folder, experiment)
    asked: list[tuple[str, str]] = []

    def differs(answer: bool):
        def compare(older: str, newer: str, root: Path, code) -> bool:
            asked.append((older, newer))
            return answer

        return compare

    with pytest.raises(UsageError, match="experiment code differs"):
        make_experiment_record(folder, experiment, differs=differs(True))
    # a commit of docs or records while the cells ran: one commit still reproduces the table
    record = make_experiment_record(folder, experiment, differs=differs(False))
    assert record["commit"] == "a" * 40  # seed 0's, the cell that started first
    assert asked[-1] == ("a" * 40, "b" * 40)
    _as_committed(runs["resnet/all/seed1"])
    del cells["resnet/all/seed1"]
    (folder / "cells.json").write_text(json.dumps(cells))
    with pytest.raises(UsageError, match=r"1 of 2 cells have not run .*resume="):
        make_experiment_record(folder, experiment)
    with pytest.raises(UsageError, match="not an experiment folder"):
        make_experiment_record(tmp_path, experiment)


def _git_in(folder: Path):
    """``git(*args)`` run in a fresh repository at ``folder`` (stdout, stripped)."""
    import subprocess

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.email=t@example.org", "-c", "user.name=t", *args],
            cwd=folder,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    git("init", "-q")
    return git


def test_files_added_since_a_record_do_not_flag_it(tmp_path: Path) -> None:
    from medzoo.results import training_code_changed

    git = _git_in(tmp_path)
    code = tmp_path / "src" / "medzoo"
    code.mkdir(parents=True)
    (code / "train.py").write_text("LR = 1e-3\n")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    recorded = git("rev-parse", "HEAD")
    (code / "publish.py").write_text("def publish(): ...\n")
    git("add", ".")
    git("commit", "-q", "-m", "a new module")
    assert training_code_changed(recorded, tmp_path) is False  # a new module alone
    (code / "train.py").write_text("LR = 3e-4\n")
    assert training_code_changed(recorded, tmp_path) is True  # a file the run used
    (code / "train.py").write_text("LR = 1e-3\n")
    git("rm", "-q", "src/medzoo/train.py")
    assert training_code_changed(recorded, tmp_path) is True  # a file removed


def test_commands_a_record_did_not_run_do_not_flag_it(tmp_path: Path) -> None:
    from medzoo.results import CLIPS_CODE, training_code_changed

    git = _git_in(tmp_path)
    code = tmp_path / "src" / "medzoo"
    (code / "video").mkdir(parents=True)
    for name in ("train.py", "export.py", "evaluate_clips.py", "video/clips.py"):
        (code / name).write_text("A = 1\n")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    recorded = git("rev-parse", "HEAD")
    (code / "export.py").write_text("A = 2\n")
    assert training_code_changed(recorded, tmp_path) is False
    assert training_code_changed(recorded, tmp_path, CLIPS_CODE) is False
    (code / "video" / "clips.py").write_text("A = 2\n")
    assert training_code_changed(recorded, tmp_path) is False
    assert training_code_changed(recorded, tmp_path, CLIPS_CODE) is True


def test_a_record_depends_on_the_config_options_its_runs_composed(tmp_path: Path) -> None:
    from medzoo.results import code_of_record, training_code_changed

    git = _git_in(tmp_path)
    files = (
        "src/medzoo/train.py",
        "configs/config.yaml",
        "configs/task/mitosis.yaml",
        "configs/task/us_detect.yaml",
        "configs/data/ami_br.yaml",
        "configs/data/busi.yaml",
        "configs/data/busi_boxes.yaml",
        "configs/model/efficientnet_lite0.yaml",
        "configs/model/resnet18.yaml",
        "configs/tables/experiments/glaucoma_table.yaml",
        "configs/tables/experiments/breast_us_seeds.yaml",
        "configs/tables/reproduce.yaml",
    )
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("a: 1\n")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    recorded = git("rev-parse", "HEAD")

    def record(task: str, *overrides: str) -> dict:
        command = " ".join(("python -m medzoo.train", f"task={task}", *overrides))
        return {"commit": recorded, "command": command}

    def flags(record: dict, changed_file: str) -> bool | None:
        (tmp_path / changed_file).write_text("a: 2\n")
        try:
            return training_code_changed(recorded, tmp_path, code_of_record(record, tmp_path))
        finally:
            (tmp_path / changed_file).write_text("a: 1\n")

    mitosis, detection = record("mitosis"), record("us_detect")
    assert flags(mitosis, "configs/task/us_detect.yaml") is False  # another task's card
    assert flags(mitosis, "configs/data/busi.yaml") is False  # another dataset
    assert flags(mitosis, "configs/model/resnet18.yaml") is False  # a model it did not use
    assert flags(mitosis, "configs/tables/experiments/glaucoma_table.yaml") is False
    assert flags(mitosis, "configs/task/mitosis.yaml") is True
    assert flags(mitosis, "configs/data/ami_br.yaml") is True
    assert flags(mitosis, "configs/config.yaml") is True  # the base every run composes
    assert flags(mitosis, "src/medzoo/train.py") is True
    assert flags(record("mitosis", "model=resnet18"), "configs/model/resnet18.yaml") is True
    assert flags(detection, "configs/data/busi.yaml") is True  # busi_boxes extends busi
    seeds = {
        "commit": recorded,
        "experiment": "breast_us_seeds",
        "profile": "quick",
        "command": "python -m medzoo.experiment name=breast_us_seeds profile=quick",
    }
    assert flags(seeds, "configs/tables/experiments/glaucoma_table.yaml") is False
    assert flags(seeds, "configs/task/mitosis.yaml") is False
    assert flags(seeds, "configs/tables/experiments/breast_us_seeds.yaml") is True
    assert flags(seeds, "configs/data/busi.yaml") is True
    assert flags(seeds, "configs/tables/reproduce.yaml") is False  # the plan: not an experiment's
    assert flags(mitosis, "configs/tables/reproduce.yaml") is False
    git("rm", "-q", "configs/task/us_detect.yaml")  # another option removed since
    assert flags(mitosis, "configs/task/mitosis.yaml") is True
    assert training_code_changed(recorded, tmp_path, code_of_record(mitosis, tmp_path)) is False
    # A command that no longer composes counts every option.
    assert flags(record("no_such_task"), "configs/data/busi.yaml") is True


def test_a_leaf_head_flags_only_the_records_of_its_own_tasks(tmp_path: Path) -> None:
    from medzoo.results import code_of_record, training_code_changed

    git = _git_in(tmp_path)
    files = {
        "src/medzoo/train.py": "A = 1\n",
        "src/medzoo/heads/detection/yolo.py": "A = 1\n",
        "src/medzoo/heads/classification/module.py": "A = 1\n",
        "configs/task/mitosis.yaml": "task:\n  head: binary\n",
        "configs/task/us_detect.yaml": "task:\n  head: detection\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    git("add", ".")
    git("commit", "-q", "-m", "first")
    recorded = git("rev-parse", "HEAD")

    def flags(task: str, changed_file: str) -> bool | None:
        record = {"commit": recorded, "command": f"python -m medzoo.train task={task}"}
        (tmp_path / changed_file).write_text("A = 2\n")
        try:
            return training_code_changed(recorded, tmp_path, code_of_record(record, tmp_path))
        finally:
            (tmp_path / changed_file).write_text(files[changed_file])

    assert flags("mitosis", "src/medzoo/heads/detection/yolo.py") is False
    assert flags("us_detect", "src/medzoo/heads/detection/yolo.py") is True
    # Classification is built on by the other heads: a change there flags them all.
    assert flags("mitosis", "src/medzoo/heads/classification/module.py") is True
    assert flags("us_detect", "src/medzoo/heads/classification/module.py") is True
    # A card that cannot be read leaves no head out.
    (tmp_path / "configs/task/mitosis.yaml").write_text("task: [unreadable\n")
    assert flags("mitosis", "src/medzoo/heads/detection/yolo.py") is True


def test_only_the_registry_and_commands_import_a_leaf_head() -> None:
    """What lets a leaf head's package change without flagging other heads' records."""
    from medzoo.results import COMMAND_PACKAGES, COMMANDS, LEAF_HEADS

    commands = {f"medzoo.{name}" for name in (*COMMANDS, *COMMAND_PACKAGES)}
    offending = []
    for module, names in _imports_of_each_module():
        if module == "medzoo.heads" or any(_within(module, c) for c in commands):
            continue
        for head in LEAF_HEADS:
            own = f"medzoo.heads.{head}"
            if not _within(module, own):
                offending += [f"{module} imports {n}" for n in names if _within(n, own)]
    assert offending == []


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


def _imports_of_each_module() -> list[tuple[str, list[str]]]:
    """Each medzoo module (``medzoo.a.b``; a package as itself) with every name it imports, at
    the top of the file or inside a function (``from m import x`` gives ``m`` and ``m.x``)."""
    import ast

    package = REPO / "src" / "medzoo"
    found = []
    for path in sorted(package.rglob("*.py")):
        module = ".".join(("medzoo", *path.relative_to(package).with_suffix("").parts))
        names = []
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        found.append((module.removesuffix(".__init__"), names))
    return found


def test_no_core_module_imports_a_command() -> None:
    """What lets COMMANDS change without flagging the records of runs that did not run them:
    no other module imports them, at the top of a file or inside a function."""
    from medzoo.results import COMMAND_PACKAGES, COMMANDS

    readers = {f"medzoo.{name}" for name in (*COMMANDS, *COMMAND_PACKAGES)}

    def is_reader(module: str) -> bool:
        return any(_within(module, r) for r in readers)

    offending = [
        f"{module} imports {name}"
        for module, names in _imports_of_each_module()
        if not is_reader(module)
        for name in names
        if is_reader(name)
    ]
    assert offending == []
    package = REPO / "src" / "medzoo"
    assert not [p for p in package.rglob("*.py") if "import_module(" in p.read_text()]


def test_a_clip_evaluation_is_recorded_only_from_the_runs_own_code(run_dir: Path) -> None:
    from medzoo.results import make_evaluation_record, render_clips_block

    _as_committed(run_dir)
    overrides = ["clips=2", "seconds=1", "fps=3", "n_bootstrap=20"]
    clean = {"commit": "a" * 40, "dirty": False}
    with pytest.raises(UsageError, match="uncommitted changes"):
        make_evaluation_record(
            run_dir, "evaluate_clips", overrides, REPO, code=lambda: {**clean, "dirty": True}
        )
    with pytest.raises(UsageError, match="trained at commit aaaaaaa, whose code differs"):
        make_evaluation_record(
            run_dir, "evaluate_clips", overrides, REPO, code=lambda: clean, changed=lambda *_: True
        )
    before = (
        set((run_dir / "clip_evaluations").glob("*"))
        if (run_dir / "clip_evaluations").is_dir()
        else set()
    )
    record = make_evaluation_record(
        run_dir, "evaluate_clips", overrides, REPO, code=lambda: clean, changed=lambda *_: False
    )
    (folder,) = set((run_dir / "clip_evaluations").glob("*")) - before
    assert record["evaluation"]["metrics"] == json.loads((folder / "metrics.json").read_text())
    assert record["metrics"] == json.loads((run_dir / "metrics.json").read_text())
    text = render_clips_block(record, "phantom_us/clips")
    still = record["evaluation"]["metrics"]["still_image"]["value"]
    assert f"| still image (no motion) | {still:.3f}" in text
    assert "2 clips × 3 frames" in text and "clips=2 seconds=1" in text


def test_a_reproduction_or_dry_run_written_at_older_training_code_is_flagged(
    tmp_path: Path,
) -> None:
    from medzoo.results import stale_reproduction

    page = tmp_path / "REPRODUCTION.md"
    page.write_text(
        "# Reproduction\n\n- command: `python -m medzoo.reproduce`\n"
        "- medzoo commit: 1234567; written 2026-11-27 11:46\n"
    )
    dry_run = tmp_path / "docs" / "dry_run_full.md"
    dry_run.parent.mkdir()
    dry_run.write_text(
        "# Dry run\n\n- command: `python -m medzoo.reproduce profile=full smoke=true`\n"
        "- medzoo commit: 89abcde; written 2026-12-01 23:00\n"
    )
    assert stale_reproduction(tmp_path, lambda *_: False) == []
    (flag,) = stale_reproduction(tmp_path, lambda commit, *_: commit == "1234567")
    assert "written at commit 1234567" in flag and "rerun python -m medzoo.reproduce" in flag
    (flag,) = stale_reproduction(tmp_path, lambda commit, *_: commit == "89abcde")
    assert flag.startswith("docs/dry_run_full.md: written at commit 89abcde")
    assert flag.endswith("rerun python -m medzoo.reproduce profile=full smoke=true")


def test_a_shifted_re_evaluation_is_recorded_and_compared_with_its_run(
    run_dir: Path, tmp_path: Path
) -> None:
    from medzoo.results import make_evaluation_record, make_record, render_comparison

    _as_committed(run_dir)
    shift = (
        "test_shift=[{_target_: albumentations.RandomBrightnessContrast, "
        "brightness_limit: [0.3, 0.3], contrast_limit: [0, 0], p: 1.0}]"
    )
    clean = {"commit": "a" * 40, "dirty": False}
    record = make_evaluation_record(
        run_dir, "evaluate", [shift], REPO, "brighter", lambda: clean, lambda *_: False
    )
    (folder,) = (run_dir / "evaluations").iterdir()
    assert record["evaluation"]["metrics"] == json.loads((folder / "metrics.json").read_text())
    assert record["evaluation"]["label"] == "brighter" and shift in record["evaluation"]["command"]
    records = [("phantom_us/default", make_record(run_dir)), ("phantom_us/brighter", record)]
    text = render_comparison(records, ["accuracy", "auc"])
    for key, document in (
        ("phantom_us/default", records[0][1]["metrics"]),
        ("phantom_us/brighter", record["evaluation"]["metrics"]),
    ):
        row = next(
            line for line in text.splitlines() if f"`{key}`" in line and line.startswith("|")
        )
        assert f"{document['accuracy']['value']:.3f}" in row
    assert text.count("95% CIs:") == 1  # both rows resample the same images: one sentence
    # A row whose intervals resample other units (another site's sequences) says its own.
    sequences = json.loads(json.dumps(record))
    sequences["evaluation"]["metrics"]["bootstrap"].update(unit="video sequence", n_units=3)
    mixed = render_comparison([records[0], ("phantom_us/external", sequences)], ["auc"])
    assert "- `phantom_us/external`: 95% CIs: bootstrap over 3 video sequences" in mixed
    assert "- `phantom_us/default`: 95% CIs: bootstrap over" in mixed
    page = tmp_path / "page.md"
    page.write_text("<!-- results phantom_us/default,phantom_us/brighter -->\n<!-- /results -->\n")
    with pytest.raises(UsageError, match="need figures="):
        blocks([page])


def test_a_seeds_summary_gives_each_replicate_experiment_its_mean_and_rows(
    tmp_path: Path,
) -> None:
    from medzoo.results import render_seeds_summary

    def cell(auc: float) -> dict:
        return {"metrics": {"groups": {"malignant_vs_rest": {"auc": {"value": auc}}}}}

    record = {
        "experiment": "breast_us_seeds",
        "commit": "abcdef0123",
        "wall_time_s": 900,
        # stored out of row order: the summary follows the experiment's rows
        "cells": {
            "seed2/busi/seed0": cell(0.7),
            "seed0/busi/seed0": cell(0.9),
            "seed1/busi/seed0": cell(0.8),
        },
    }
    text = render_seeds_summary([("breast_us_seeds/quick", record)], tmp_path / "README.md")
    row = next(line for line in text.splitlines() if "BUSI" in line)
    assert "| 0.800 ± 0.100 | 0.900 / 0.800 / 0.700 | 5.0 min |" in row
    assert "`results/breast_us_seeds/quick.json` at abcdef0" in row
    with pytest.raises(UsageError, match="rows are replicates"):
        render_seeds_summary(
            [("glaucoma_table/quick", {**record, "experiment": "glaucoma_table"})],
            tmp_path / "README.md",
        )


def test_two_commits_differ_only_where_code_a_record_ran_changed(tmp_path: Path) -> None:
    from medzoo.results import EXPERIMENT_CODE, code_differs

    git = _git_in(tmp_path)
    (tmp_path / "src" / "medzoo").mkdir(parents=True)
    (tmp_path / "src" / "medzoo" / "train.py").write_text("LR = 1e-3\n")
    (tmp_path / "README.md").write_text("figures\n")
    git("add", ".")
    git("commit", "-q", "-m", "first")
    first = git("rev-parse", "HEAD")
    (tmp_path / "README.md").write_text("new figures\n")
    git("commit", "-q", "-am", "docs only")
    docs = git("rev-parse", "HEAD")
    (tmp_path / "src" / "medzoo" / "train.py").write_text("LR = 3e-4\n")
    git("commit", "-q", "-am", "training code")
    code = git("rev-parse", "HEAD")
    assert code_differs(first, docs, tmp_path, EXPERIMENT_CODE) is False
    assert code_differs(first, code, tmp_path, EXPERIMENT_CODE) is True
    assert code_differs(first, "f" * 40, tmp_path, EXPERIMENT_CODE) is None  # unknown commit
