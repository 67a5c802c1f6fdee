"""Export architectures to runnable models: ``nas export RUN --top K``.

:func:`export_top` ranks the ``ok`` trials of a run by the run's objective
(:meth:`~nas.objectives.Objective.rank_score`; ``accuracy``: ``val_acc``; ``mnas``: its reward;
``pareto``: ``val_acc``; ties keep journal order) and
calls :func:`export_arch` for each of the best ``K``, into ``RUN/best/<rank>-<trial id>/``
(or ``OUT/<rank>-<trial id>/``). A folder holds:

``arch.yaml``
    the architecture (``meta`` gains the trial id, rank, run, dataset, build settings and metrics);
``model.py``
    a standalone file that needs only torch (:mod:`nas.app.export_codegen`): the ``nas.nn`` model
    code, the architecture as plain Python literals, ``build_model()``, ``load_weights()``,
    the training input preprocessing as code (``preprocess(images)``, ``Preprocess``,
    ``predict(model, images)``: :mod:`nas.app.export_preprocess`) and a ``__main__`` demo;
``weights.pt``
    the trained ``state_dict``, when the run kept the trial's weights (``weights/<trial id>.pt``
    in the run directory, or under ``--storage``: :func:`nas.layout.find_trial_weights`);
``model.ts``
    TorchScript of the eval-mode model (``torch.jit.script``; ``torch.jit.trace`` on the
    dataset's input shape if scripting fails, with the reason in the card);
``model.onnx``
    ONNX with a dynamic batch dimension, only when ``onnx`` is importable (the
    ``torch.export``-based exporter needs ``onnxscript``; without it the legacy exporter runs);
``space.yaml``
    the search space's definition, when the space is defined by a file (``format: nas/space@1``);
    the card's commands pass it with ``--space``;
``card.md``
    metrics, parameters, MACs, latency (measured as during the search:
    :func:`evaluators.candidate.latency_ms` with the search's thread setting), the expected
    input (shape, dtype, range, channel order, normalisation constants), dataset, the genotype
    string where one exists and the commands that reproduce training.

Without trained weights the exported files hold the trial's *initial* weights (seeded
as the evaluator seeds the trial), which is stated in the card.

Everything is checked before anything is written: the architecture is validated by its
space, the model is built, every literal that goes into ``model.py`` is whitelisted, and
the generated ``model.py`` is executed in-process and must reproduce the toolkit model's
state-dict layout and logits. Files are written into a locked hidden staging folder that
then replaces the destination, so a folder is never half-exported; staging folders left by
a killed export are removed by the next one (:mod:`nas.app.export_staging`).
"""
from __future__ import annotations

import math
import re
import shlex
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import yaml

from nas.arch import Architecture
from nas.errors import ConfigError, InvalidArchitecture, NasError
from nas.io import atomic_write_bytes, atomic_write_text
from nas.app.export_staging import RANKED_STAGING, check_destination, remove_stale, staging, swap_in
from nas.layout import find_trial_weights, safe_name, storage_of, trial_weights_path
from nas.settings import build_settings

FORMATS: tuple[str, ...] = ("yaml", "py", "torchscript", "onnx")
_RANKED_DIR = re.compile(r"^\d+-")
#: the space definition written beside ``arch.yaml`` when the space is data (a space file)
SPACE_FILE = "space.yaml"
Note = Callable[[str], None]


# -- small helpers ------------------------------------------------------------------------
def parse_formats(formats: str | Iterable[str]) -> tuple[str, ...]:
    """``"yaml,py"`` or an iterable of names -> a checked tuple (ConfigError on unknown names)."""
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    out: list[str] = []
    for f in (str(x).strip().lower() for x in items):
        if not f:
            continue
        if f not in FORMATS:
            raise ConfigError(f"unknown export format {f!r}; known: {', '.join(FORMATS)}")
        if f not in out:
            out.append(f)
    if not out:
        raise ConfigError(f"no export format given; known: {', '.join(FORMATS)}")
    return tuple(out)


def load_state_dict(path: str | Path) -> dict[str, Any]:
    """A ``state_dict`` from ``path`` (``weights_only=True``); a training checkpoint's ``model`` works too."""
    import pickle
    import warnings

    import torch

    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error below says it all
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's text suggests weights_only=False, unsafe for untrusted files
        raise ConfigError(f"{path}: cannot read weights: not a file of tensors that loads with "
                          "weights_only=True (garbage, or it holds pickled objects)") from None
    except Exception as e:  # noqa: BLE001 - unreadable for whatever reason
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else "empty or truncated file"
        raise ConfigError(f"{path}: cannot read weights ({type(e).__name__}: {first})") from None
    if isinstance(state, Mapping) and isinstance(state.get("model"), Mapping):
        state = state["model"]
    if not isinstance(state, Mapping) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise ConfigError(f"{path}: not a state_dict (a mapping of parameter names to tensors)")
    return dict(state)


def fit_state_dict(model: Any, state: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``state`` made to fit ``model``: auxiliary-head weights are dropped if the model has none.

    Loads it into ``model`` (strict) and returns it; a mismatch is a ConfigError naming ``where``.
    """
    has_aux = any(k.startswith("auxiliary_head.") for k in model.state_dict())
    clean = {k: v for k, v in state.items() if has_aux or not k.startswith("auxiliary_head.")}
    try:
        model.load_state_dict(clean, strict=True)
    except RuntimeError as e:
        first = " ".join(str(e).split())[:300]
        raise ConfigError(f"{where}: weights do not fit this architecture/build settings: {first}") from None
    return clean


def _plain(metrics: Mapping[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (metrics or {}).items():
        if isinstance(v, bool) or isinstance(v, (int, str)):
            out[str(k)] = v
        elif isinstance(v, float) and math.isfinite(v):
            out[str(k)] = v
    return out


def _dataset_info(dataset: Any) -> Any:
    """A ``DatasetInfo``: ``dataset`` itself, or that of the dataset it names (default ``digits``)."""
    if dataset is None or isinstance(dataset, str):
        from evaluators.data import dataset_info

        return dataset_info(dataset or "digits")
    return dataset


# -- one architecture --------------------------------------------------------------------------
def export_arch(
    arch: Architecture,
    out_dir: str | Path,
    *,
    space: Any = None,
    build_kwargs: Mapping[str, Any] | None = None,
    weights: str | Path | Mapping[str, Any] | None = None,
    formats: str | Sequence[str] = FORMATS,
    metrics: Mapping[str, Any] | None = None,
    dataset: Any = "digits",
    seed: int = 0,
    meta: Mapping[str, Any] | None = None,
    commands: Sequence[tuple[str, str]] | None = None,
    on_note: Note | None = None,
    data_seed: int = 0,
    threads: int | None = None,
) -> Path:
    """Export one architecture into ``out_dir`` (replaced as a whole); returns ``out_dir``.

    ``build_kwargs`` are the keyword arguments of ``space.build`` (default: the space's
    ``build_defaults`` for the dataset's family; ``in_channels``/``num_classes`` default to
    the dataset's). ``dataset`` is a dataset name or a ``DatasetInfo``; it fixes the input
    shape. ``weights`` is a ``state_dict`` or a file holding one; without it the model is
    initialised after ``torch.manual_seed(seed)``. ``metrics`` (a trial's) go to the card and
    ``meta``; ``commands`` are extra ``(title, shell command)`` pairs for the card.
    ``data_seed`` is the seed of the data split (digits are standardised with the statistics of
    their training split); ``threads`` the torch CPU threads the search's trials used (None:
    the evaluators' default), for the latency measurement.
    """
    from evaluators.checkpoint import atomic_torch_save
    from nas.app.export_card import render_card
    from nas.app.export_codegen import render_model_py
    from nas.app.export_formats import latency_as_in_search, torchscript_bytes, verify_source, write_onnx
    from nas.app.export_preprocess import render_preprocess
    from nas.nn.measure import count_macs, count_params
    from nas.zoo import get_space

    fmts = parse_formats(formats)
    check_destination(Path(out_dir))
    if commands is None:
        commands = [("Train with the full recipe (DARTS CIFAR evaluation protocol, Liu et al., ICLR 2019)",
                     f"nas train {shlex.quote(str(Path(out_dir) / 'arch.yaml'))} --recipe full "
                     f"--dataset {shlex.quote(str(getattr(dataset, 'name', dataset) or 'digits'))}")]
    space = get_space(space or arch.space) if space is None or isinstance(space, str) else space
    if arch.space != space.name:
        raise InvalidArchitecture(f"architecture is from space {arch.space!r}, not {space.name!r}")
    space.validate(arch)
    info = _dataset_info(dataset)
    kw = build_settings(space, info) if build_kwargs is None else dict(build_kwargs)
    kw.setdefault("in_channels", info.in_channels)
    kw.setdefault("num_classes", info.num_classes)
    shape = (1, int(kw["in_channels"]), int(info.image_size), int(info.image_size))
    notes: list[str] = []

    def note(text: str) -> None:
        notes.append(text)
        if on_note is not None:
            on_note(text)

    model = _build(space, arch, kw, seed)
    if model is None:  # e.g. a plugin space scored by a table only
        note(f"space {arch.space!r} builds no model: only arch.yaml and card.md are written")
        fmts = tuple(f for f in fmts if f == "yaml")
    state = source = None
    if model is not None and weights is not None:
        where = str(weights) if isinstance(weights, (str, Path)) else "weights"
        raw = load_state_dict(weights) if isinstance(weights, (str, Path)) else dict(weights)
        state = fit_state_dict(model, raw, where)
    prep = _preprocessing(info, data_seed, note) if model is not None else None
    if "py" in fmts:
        block = "" if prep is None else render_preprocess(prep, int(kw["in_channels"]))
        source = render_model_py(_model_spec(space, arch, kw), space=arch.space, key=arch.key, input_shape=shape,
                                 preprocess=block)
        verify_source(source, model, shape)
    measured: dict[str, Any] = {"params": None, "macs": None, "latency_ms": None}
    if model is not None:
        measured = {"params": count_params(model), "macs": count_macs(model, shape),
                    **latency_as_in_search(model, shape, info, threads)}
    ts_bytes, ts_how = torchscript_bytes(model, shape, note) if "torchscript" in fmts else (None, None)

    out_dir = Path(out_dir)
    definition = _space_definition(arch.space)
    if definition is not None:  # a data-defined space travels with its architecture
        flag = f" --space {shlex.quote(str(out_dir / SPACE_FILE))}"
        commands = [(t, c + flag if c.startswith(("nas train ", "nas show ")) else c) for t, c in commands or ()]
    with staging(out_dir) as stage:
        written: list[str] = []
        if definition is not None:
            atomic_write_text(stage / SPACE_FILE, yaml.safe_dump(definition, sort_keys=False))
            written.append(SPACE_FILE)
        if "yaml" in fmts:
            full_meta = {**arch.meta, **dict(meta or {})}
            if metrics:
                full_meta["metrics"] = _plain(metrics)
            Architecture(arch.space, cells=arch.cells, blocks=arch.blocks, macro=arch.macro,
                         meta=full_meta).save(stage / "arch.yaml")
            written.append("arch.yaml")
        if source is not None:
            atomic_write_text(stage / "model.py", source)
            written.append("model.py")
        if state is not None:
            atomic_torch_save({k: v.detach().cpu() for k, v in state.items()}, stage / "weights.pt")
            written.append("weights.pt")
        if ts_bytes is not None:
            atomic_write_bytes(stage / "model.ts", ts_bytes)
            written.append("model.ts")
        if "onnx" in fmts and write_onnx(model, shape, stage / "model.onnx", note):
            written.append("model.onnx")
        card = render_card(
            arch=arch, space=space, info=info, shape=shape, build_kwargs=kw, metrics=_plain(metrics),
            measured=measured, files=written,
            trained=state is not None, torchscript=ts_how, notes=notes, commands=list(commands or ()),
            folder=out_dir, meta=dict(meta or {}), preprocessing=prep)
        atomic_write_text(stage / "card.md", card)
        swap_in(stage, out_dir)
    return out_dir


def _space_definition(name: str) -> dict[str, Any] | None:
    """The data a space was defined from (a space file), or None for a space that is code."""
    from nas.registry import SPACES

    return SPACES.definition(name) if name in SPACES else None


def _preprocessing(info: Any, data_seed: int, note: Note) -> Any:
    """The training input pipeline of the dataset (:func:`evaluators.data.preprocessing`), or None."""
    from evaluators.data import preprocessing

    try:
        return preprocessing(info.name, data_seed, image_size=info.image_size)
    except NasError as e:
        note(f"no input preprocessing is known for dataset {info.name!r} ({e}); model.py has none")
        return None


def _build(space: Any, arch: Architecture, kw: Mapping[str, Any], seed: int) -> Any:
    """``space.build(arch, **kw)`` in eval mode, seeded without touching the global RNG; None if no model."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = space.build(arch, **kw)
        except NasError:
            raise
        except NotImplementedError:
            return None
        except (ValueError, TypeError, RuntimeError) as e:  # e.g. a size the network cannot take
            raise ConfigError(f"cannot build {arch.space} architecture {arch.key} with {dict(kw)}: {e}") from None
    return model.eval()


def _model_spec(space: Any, arch: Architecture, kw: Mapping[str, Any]) -> Any:
    """The space's :class:`~nas.spec.ModelSpec` for ``model.py``; ConfigError if the space lowers to none."""
    try:
        return space.model_spec(arch, **kw)
    except NotImplementedError:
        raise ConfigError(f"space {arch.space!r} builds its model without a ModelSpec (no lower()), so it cannot "
                          f"be exported as model.py; export the other formats with --format") from None


# -- a run's top trials --------------------------------------------------------------------------
def rank_trials(run_dir: str | Path, records: list[dict[str, Any]] | None = None,
                ) -> tuple[dict[str, Any], list[tuple[float, dict[str, Any]]]]:
    """``(config, [(score, record), ...])``: the run's ok trials with a finite score, best first.

    Scores are the objective's :meth:`~nas.objectives.Objective.rank_score`. ``records``: the
    journal when the caller has read it already (default: read ``trials.jsonl``).
    """
    import nas.objectives  # noqa: F401  (registers the objectives)
    from nas.registry import OBJECTIVES
    from nas.app.rundir import TRIALS, read_records, read_run_yaml
    from nas.types import Result

    config = dict(read_run_yaml(run_dir)["config"])
    try:
        objective = OBJECTIVES.create(config.get("objective", "accuracy"), **(config.get("objective_options") or {}))
    except NasError:
        objective = OBJECTIVES.create("accuracy")
    scored = []
    for rec in read_records(Path(run_dir) / TRIALS) if records is None else records:
        if rec.get("status") != "ok" or (rec.get("result_arch") or rec.get("arch")) is None:  # see trial_arch
            continue
        score = objective.rank_score(Result("ok", dict(rec.get("metrics") or {})))
        if score is not None:  # None: no finite score
            scored.append((float(score), rec))
    scored.sort(key=lambda sr: -sr[0])  # stable: ties keep journal order
    return config, scored


def export_top(
    run_dir: str | Path,
    top: int = 1,
    formats: str | Sequence[str] = FORMATS,
    out: str | Path | None = None,
    on_note: Note | None = None,
) -> list[Path]:
    """Export the ``top`` best ok trials of a run (see the module docstring); returns the folders."""
    from evaluators.candidate import RECIPE_KEYS, trial_seed
    from nas.config import SearchConfig, create_space
    from nas.app.export_card import reproduce_commands
    from nas.app.rundir import RUN_YAML
    from nas.types import arch_settings, trial_arch, trial_runner
    from nas.zoo import get_space

    run_dir = Path(run_dir)
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ConfigError(f"--top must be an integer >= 1, got {top!r}")
    fmts = parse_formats(formats)
    stored, ranked = rank_trials(run_dir)
    if not ranked:
        raise ConfigError(f"{run_dir}: no ok trials to export")
    config = SearchConfig.from_dict(stored, where=str(run_dir / RUN_YAML))
    create_space(config)  # registers a space the run defines by data (a space file) under its name
    info = _dataset_info(config.dataset)
    dest_root = run_dir / "best" if out is None else Path(out)
    remove_stale(dest_root, RANKED_STAGING)  # left by an earlier export that was killed
    storage = storage_of(config)
    threads = (config.evaluator_options or {}).get("threads")
    jobs = []
    for rank, (score, rec) in enumerate(ranked[:top], start=1):
        tid = str(rec["id"])
        arch = trial_arch(rec, where=f"{run_dir}: trial {tid}")
        assert arch is not None  # rank_trials keeps trials with an architecture
        space = get_space(arch.space)
        kw = build_settings(space, info, config, arch_settings(rec), exclude=RECIPE_KEYS)
        jobs.append((rank, score, rec, tid, arch, space, kw))
    paths = []
    for rank, score, rec, tid, arch, space, kw in jobs:
        dest = dest_root / f"{rank}-{safe_name(tid)}"
        weights = find_trial_weights(run_dir, tid, storage)
        seed = trial_seed(config.seed, tid)
        meta = {"trial": tid, "rank": rank, "score": score, "run": str(run_dir), "dataset": config.dataset,
                "build": {k: v for k, v in kw.items() if isinstance(v, (bool, int, float, str))}}
        cmds = reproduce_commands(dest / "arch.yaml", config=config, trial_config=arch_settings(rec),
                                  seed=seed, build_kwargs=kw, runner=trial_runner(rec))
        paths.append(export_arch(arch, dest, space=space, build_kwargs=kw, weights=weights, formats=fmts,
                                 metrics=rec.get("metrics"), dataset=info, seed=seed, meta=meta, commands=cmds,
                                 on_note=on_note, data_seed=config.seed,
                                 threads=threads if isinstance(threads, int) and threads >= 1 else None))
    if out is None:  # drop ranked folders of an earlier export that this one no longer lists
        keep = {p.name for p in paths}
        for d in dest_root.iterdir():
            if d.is_dir() and _RANKED_DIR.match(d.name) and d.name not in keep and (d / "card.md").exists():
                shutil.rmtree(d, ignore_errors=True)
    return paths


__all__ = ["FORMATS", "export_arch", "export_top", "find_trial_weights", "fit_state_dict", "load_state_dict",
           "parse_formats", "rank_trials", "safe_name", "trial_weights_path"]
