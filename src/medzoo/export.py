"""``python -m medzoo.export run=<run dir | checkpoint | release> format=onnx|torchscript
[out=<folder>]``: a trained model as a file that runs without medzoo.

The exported model takes a float batch (n, channels, size, size) scaled to [0, 1] — images
preprocessed as the run's ``model_card.md`` says — and returns what ``medzoo.load(...)``
returns: class probabilities, or probability maps for a segmentation run. The batch size is
free. After writing, the file is run on random input and its outputs are checked against
PyTorch's; the result goes into ``<format>.json`` beside it, in ``out`` (default: the run's or
the release's ``export/`` folder).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from medzoo.commands import UsageError, key_values, user_errors
from medzoo.heads import load_module, locate
from medzoo.models.views import predict
from medzoo.releases import WEIGHTS, is_release, load_release
from medzoo.rundir import RunDirectory

FORMATS = {"onnx": "model.onnx", "torchscript": "model.pt"}
TOLERANCE = 1e-4  # largest absolute difference in probability accepted


class Probabilities(torch.nn.Module):
    """A medzoo module as it predicts (``medzoo.heads.modules.predict``): its head's
    probabilities, averaged over its test-time flips when it has any."""

    def __init__(self, module: torch.nn.Module) -> None:
        super().__init__()
        self.module = module
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return predict(self.module, images)


def example_input(module: torch.nn.Module, batch: int = 2, seed: int = 0) -> torch.Tensor:
    size, channels = int(module.hparams.image_size), int(module.hparams.in_chans)
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, channels, size, size, generator=generator)


def export_onnx(model: Probabilities, example: torch.Tensor, path: Path) -> None:
    try:
        import onnx  # noqa: F401  (the exporter needs it; fail with the fix, not deep inside)
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise UsageError(
            f"ONNX export needs onnx and onnxscript: pip install 'medzoo[export]' ({err})"
        ) from err
    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.onnx.export(
        model,
        (example,),
        dynamic_shapes={"images": {0: batch}},
        input_names=["images"],
        output_names=["probabilities"],
        dynamo=True,
        verbose=False,
    )
    program.save(str(path))


def export_torchscript(model: Probabilities, example: torch.Tensor, path: Path) -> None:
    # A LightningModule's `trainer` property raises when tracing inspects it, unless the module
    # is told it is being scripted (what Lightning's own to_torchscript does).
    model.module._jit_is_scripting = True
    try:
        with torch.no_grad():
            traced = torch.jit.trace(model, example)
    finally:
        model.module._jit_is_scripting = False
    traced.save(str(path))


def run_exported(path: Path, fmt: str, images: torch.Tensor) -> np.ndarray:
    """Outputs of an exported file, through its own runtime (onnxruntime, TorchScript)."""
    if fmt == "onnx":
        try:
            import onnxruntime
        except ImportError as err:
            raise UsageError(
                f"checking an ONNX export needs onnxruntime: pip install 'medzoo[export]' ({err})"
            ) from err
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: images.numpy()})[0]
    loaded = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return loaded(images).numpy()


class OnnxRuntimeModule(torch.nn.Module):
    """An exported ONNX file run by onnxruntime in place of a module: ``module(images)`` gives
    probabilities (``probabilities`` passes them on), with the trained module's metadata
    (classes, hyperparameters) so that a ``Predictor`` treats it as the module itself."""

    def __init__(self, path: Path, like: torch.nn.Module, threads: int | None = None) -> None:
        super().__init__()
        try:
            import onnxruntime
        except ImportError as err:
            raise UsageError(
                f"backend=onnx needs onnxruntime: pip install 'medzoo[export]' ({err})"
            ) from err
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        self.hparams = like.hparams
        self.class_names = like.class_names
        self.per_pixel = getattr(like, "per_pixel", False)
        self.single_logit = getattr(like, "single_logit", False)
        self.path = path

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        array = images.detach().cpu().numpy().astype(np.float32, copy=False)
        return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])

    def probabilities(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs  # the exported graph ends in the head's probability function


def onnx_module(run: RunDirectory, checkpoint: Path) -> OnnxRuntimeModule:
    """The ONNX export of a run (``python -m medzoo.export``; ``checkpoint``: the one it was
    exported from), checked when it was written, as a module; refused when the run has no
    passing export."""
    path, check = run.path / "export" / FORMATS["onnx"], run.path / "export" / "onnx.json"
    if not path.is_file() or not check.is_file():
        raise UsageError(
            f"{run.path} has no ONNX export: write one with python -m medzoo.export "
            f"run={run.path} format=onnx, then predict with backend=onnx"
        )
    if not json.loads(check.read_text(encoding="utf-8")).get("passed"):
        raise UsageError(f"{path} did not match PyTorch when it was written ({check}): re-export")
    return OnnxRuntimeModule(path, load_module(checkpoint))


def export_run(target: str | Path, fmt: str, out: str | Path | None = None) -> tuple[Path, dict]:
    """Export a run's best checkpoint, or a release's weights; returns the file and the
    check's result."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if is_release(Path(target).expanduser()):
        base = Path(target).expanduser()
        module, source = load_release(base).module, WEIGHTS  # verified against SHA256SUMS
    else:
        run, checkpoint = locate(target)
        module, source, base = (
            load_module(checkpoint),
            str(checkpoint.relative_to(run.path)),
            run.path,
        )
    model = Probabilities(module)
    folder = Path(out).expanduser() if out else base / "export"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FORMATS[fmt]
    if path.exists():
        raise FileExistsError(f"{path} exists; an export is written once. Move it away first")
    example = example_input(module)
    (export_onnx if fmt == "onnx" else export_torchscript)(model, example, path)
    check_input = example_input(module, batch=3, seed=1)  # another batch size than traced
    with torch.no_grad():
        expected = model(check_input).numpy()
    got = run_exported(path, fmt, check_input)
    difference = float(np.abs(got - expected).max())
    result = {
        "format": fmt,
        "file": path.name,
        "checkpoint": source,
        "input": {
            "shape": ["batch", *list(check_input.shape[1:])],
            "dtype": "float32",
            "range": "[0, 1], preprocessed as model_card.md says",
        },
        "output": "probabilities (as medzoo.load(...).predict returns)",
        "max_abs_difference_vs_pytorch": difference,
        "tolerance": TOLERANCE,
        "passed": difference <= TOLERANCE,
    }
    (folder / f"{fmt}.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if not result["passed"]:
        raise UsageError(
            f"{path}: outputs differ from PyTorch's by {difference:.2e} (> {TOLERANCE}); do not "
            "use this file"
        )
    return path, result


USAGE = (
    "usage: python -m medzoo.export run=<run dir | checkpoint | release> "
    "format=onnx|torchscript [out=<folder>]"
)


def main(argv: Sequence[str] | None = None) -> None:
    with user_errors():
        arguments = key_values(
            sys.argv[1:] if argv is None else argv,
            ("run", "format", "out"),
            USAGE,
            required=("run",),
        )
        path, result = export_run(
            arguments["run"], arguments.get("format", "onnx"), arguments.get("out")
        )
    print(
        f"written: {path}\noutputs vs PyTorch: max |difference| "
        f"{result['max_abs_difference_vs_pytorch']:.2e} (tolerance {TOLERANCE})"
    )


if __name__ == "__main__":
    main()
