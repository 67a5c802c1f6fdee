"""The binary export formats of :mod:`nas.app.export`: TorchScript, ONNX, the ``model.py`` self-check
and the card's latency measurement.

Each function takes the eval-mode toolkit model and the dataset's input shape (batch 1);
the checks run on a batch of 2. Exporter limitations never raise: they are reported
through ``note`` and the format is skipped, so the other formats are still written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

Note = Callable[[str], None]


def verify_source(source: str, model: Any, shape: tuple[int, ...]) -> None:
    """Run the generated ``model.py`` in-process; it must match ``model`` exactly (else a bug)."""
    import torch

    namespace: dict[str, Any] = {"__name__": "nas_exported_model"}
    exec(compile(source, "model.py", "exec"), namespace)  # noqa: S102 - our own checked output
    clone = namespace["build_model"]()
    ref = model.state_dict()
    got = clone.state_dict()
    if list(ref) != list(got) or any(ref[k].shape != got[k].shape for k in ref):
        raise RuntimeError("generated model.py does not have the toolkit model's parameter layout (bug)")
    clone.load_state_dict(ref)
    clone.eval()
    x = torch.randn((2, *shape[1:]), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        if not torch.allclose(clone(x), model(x), rtol=1e-4, atol=1e-5):
            raise RuntimeError("generated model.py computes different logits than the toolkit model (bug)")


def latency_as_in_search(model: Any, shape: tuple[int, ...], info: Any, threads: int | None) -> dict[str, Any]:
    """``{"latency_ms", "latency_threads"}``: measured exactly as during the search.

    Same function (:func:`evaluators.candidate.latency_ms`: CPU, batch 1, median of
    ``LATENCY_REPEATS`` runs after one warm-up) and same torch thread count as the search's
    trials (:func:`evaluators.candidate.set_threads`: ``threads``, else 1 for ``digits``). The
    thread count matters: with torch's default of one thread per core, a tiny model on a busy
    machine measured 20-100x slower than during the search. The process's setting is restored.
    """
    import torch

    from evaluators.candidate import latency_ms, set_threads

    before = torch.get_num_threads()
    try:
        set_threads(threads, torch.device("cpu"), info)
        used = torch.get_num_threads()
        return {"latency_ms": latency_ms(model, shape), "latency_threads": used}
    finally:
        torch.set_num_threads(before)


def torchscript_bytes(model: Any, shape: tuple[int, ...], note: Note) -> tuple[bytes | None, str | None]:
    """TorchScript bytes: ``torch.jit.script``, else ``torch.jit.trace`` (fixed control flow)."""
    import io
    import warnings

    import torch

    x = torch.randn((2, *shape[1:]), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            module, how = torch.jit.script(model), "script"
        except Exception as e:  # noqa: BLE001 - any scripting limitation
            reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            note(f"torch.jit.script failed ({reason}); model.ts was traced at input {tuple(x.shape)}: "
                 "data-dependent control flow is frozen to that shape")
            try:
                module, how = torch.jit.trace(model, x, check_trace=False), "trace"
            except Exception as e2:  # noqa: BLE001
                note(f"TorchScript export skipped: tracing failed too ({str(e2).splitlines()[0][:200]})")
                return None, None
    with torch.no_grad():
        if not torch.allclose(module(x), ref, rtol=1e-4, atol=1e-5):
            note("TorchScript export skipped: the scripted model's logits differ from the model's")
            return None, None
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.save's deprecation notice (torch.export is the successor)
        torch.jit.save(module, buf)
    return buf.getvalue(), how


def write_onnx(model: Any, shape: tuple[int, ...], path: Path, note: Note) -> bool:
    """Write ``model.onnx`` (dynamic batch) and check it with ``onnx.checker``; False if skipped."""
    import contextlib
    import importlib.util
    import io
    import warnings

    import torch

    if importlib.util.find_spec("onnx") is None:
        note("model.onnx skipped: the onnx package is not installed (python -m pip install onnx onnxscript)")
        return False
    dynamo = importlib.util.find_spec("onnxscript") is not None
    x = torch.randn((2, *shape[1:]), generator=torch.Generator().manual_seed(2))
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            if dynamo:
                torch.onnx.export(model, (x,), str(path), dynamo=True, verbose=False, external_data=False,
                                  input_names=["x"], output_names=["logits"],
                                  dynamic_shapes=({0: torch.export.Dim("batch")},))
            else:
                torch.onnx.export(model, (x,), str(path), dynamo=False, input_names=["x"],
                                  output_names=["logits"], dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
        import onnx

        onnx.checker.check_model(str(path))
    except Exception as e:  # noqa: BLE001 - exporter limitations must not sink the other formats
        path.unlink(missing_ok=True)
        text = " ".join(str(e).split())[:200] or type(e).__name__
        note(f"model.onnx skipped: ONNX export failed ({type(e).__name__}: {text})")
        return False
    return True


__all__ = ["latency_as_in_search", "verify_source", "torchscript_bytes", "write_onnx"]
