"""``card.md`` of an exported architecture and the ``nas train`` commands that reproduce it.

The card is Markdown for people; nothing reads it back. Text that comes from files
(architecture names, dataset paths) only appears inside code spans or is shell-quoted in
commands.
"""
from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from evaluators.trainer import SEARCH_FIELDS, TrainRecipe
from nas.types import DEFAULT_RUNNER

#: TrainRecipe fields in flag order; bools become --x / --no-x (see ``nas train --help``)
RECIPE_FLAGS = tuple(f.name for f in dataclasses.fields(TrainRecipe))


def _flag(name: str, value: Any) -> list[str]:
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return [flag if value else "--no-" + name.replace("_", "-")]
    return [flag, str(value)]


def _data_flags(config: Any) -> list[str]:
    out = ["--dataset", str(config.dataset)]
    if config.data_dir:
        out += ["--data-dir", str(config.data_dir)]
    return out


def reproduce_commands(arch_path: str | Path, *, config: Any, trial_config: Mapping[str, Any], seed: int,
                       build_kwargs: Mapping[str, Any], runner: str = DEFAULT_RUNNER) -> list[tuple[str, str]]:
    """``[(title, command)]``: the full retraining and the exact repeat of the trial's proxy training.

    The proxy command reproduces the candidate evaluator bit for bit on CPU: same data
    split (``--data-seed`` = the search seed), same initial weights and batch order
    (``--seed`` = the trial's seed), same ``search`` recipe fields and build size.
    ``trial_config`` holds the trial's settings for its architecture (:func:`nas.types.arch_settings`).
    A trial whose ``runner`` is not ``train`` produced the architecture without training it (e.g.
    a one-shot search trained a supernet): the command then trains it with the search's recipe.
    """
    arch = str(arch_path)
    produced = runner != DEFAULT_RUNNER
    full = ["nas", "train", arch, "--recipe", "full", *_data_flags(config)]
    proxy = ["nas", "train", arch, "--recipe", "search", *_data_flags(config)]
    recipe = {k: getattr(config, k) for k in SEARCH_FIELDS}
    recipe.update({k: v for k, v in trial_config.items() if k in RECIPE_FLAGS})
    for k in RECIPE_FLAGS:
        if k in recipe:
            proxy += _flag(k, recipe[k])
    for k in ("channels", "layers"):
        if build_kwargs.get(k) is not None and (getattr(config, k, None) is not None or k in trial_config):
            proxy += _flag(k, build_kwargs[k])
    proxy += ["--seed", str(seed), "--data-seed", str(config.seed), "--device", "cpu"]
    title = "Repeat the search's proxy training of this trial (bit-identical when both run on CPU)"
    if produced:
        title = (f"Train this architecture with the search's proxy recipe (its {runner!r} trial "
                 "produced it without training it)")
    extra = sorted(k for k in trial_config if k not in RECIPE_FLAGS and k not in ("channels", "layers"))
    if extra:
        title += f"; the trial's build option(s) {', '.join(extra)} have no flag and are not applied"
    cmds = [("Retrain with the full recipe (DARTS CIFAR evaluation protocol, Liu et al., ICLR 2019)", shlex.join(full))]
    if _trains_candidates(config):  # a table lookup (simulated time) has no training to repeat
        cmds.append((title, shlex.join(proxy)))
    cmds.append(("Compare it with hand-designed baselines under one recipe and three seeds (leaderboard)",
                 compare_command(arch=arch, data_flags=_data_flags(config))))
    return cmds


#: the baselines a comparison command suggests next to a run's architectures
SUGGESTED_BASELINES = ("resnet20", "mobilenetv2", "lenet5")


def compare_command(*, run: str | Path | None = None, arch: str | Path | None = None, top: int = 3,
                    data_flags: Iterable[str] = ()) -> str:
    """The ``nas compare`` command that puts run ``run``'s best ``top`` trials (or the architecture file
    ``arch``) beside a few baselines, under the ``search`` recipe and three seeds."""
    what = ["--run", str(run), "--top", str(top)] if run is not None else [str(arch)]
    return shlex.join(["nas", "compare", *what, *SUGGESTED_BASELINES, *data_flags, "--recipe", "search",
                       "--seeds", "0", "1", "2"])


def _trains_candidates(config: Any) -> bool:
    """Whether the run's evaluator trains its candidates (not a tabular lookup with simulated time)."""
    from nas.errors import NasError
    from nas.registry import EVALUATORS

    name = getattr(config, "evaluator", "auto")
    if name == "auto":  # resolved to a training evaluator (nas.app.launch.choose_evaluator)
        return True
    try:
        return not getattr(EVALUATORS.get(name), "simulated_time", False)
    except NasError:
        return False


def _count(x: Any) -> str:
    if x is None:
        return "-"
    x = float(x)
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.3f}{unit} ({int(x):,})"
    return f"{int(x):,}"


def _genotype(arch: Any, space: Any) -> tuple[str, str] | None:
    """``(kind, text)``: the DARTS Genotype or NB201 string of ``arch``, if its space has one."""
    from nas.errors import NasError

    for kind, method in (("DARTS Genotype", "to_genotype"), ("NAS-Bench-201 string", "to_string")):
        fn = getattr(space, method, None)
        if fn is None:
            continue
        try:
            return kind, str(fn(arch))
        except NasError:
            return None
    return None


def _code(text: Any) -> str:
    """``text`` as an inline code span on one line: newlines, tabs and other control characters
    become spaces and a backtick a quote, so a name cannot end the span, the heading or the table row."""
    one_line = " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())
    if len(one_line) > 200:
        one_line = one_line[:197] + "..."
    return "`" + one_line.replace("`", "'").replace("|", "\\|") + "`"


def render_card(*, arch: Any, space: Any, info: Any, shape: Sequence[int], build_kwargs: Mapping[str, Any],
                metrics: Mapping[str, Any], measured: Mapping[str, Any], files: Sequence[str], trained: bool,
                torchscript: str | None, notes: Sequence[str], commands: Sequence[tuple[str, str]],
                folder: Path, meta: Mapping[str, Any], preprocessing: Any = None) -> str:
    """The card's Markdown; ``preprocessing`` (:class:`evaluators.data.Preprocessing`) gives its Input section."""
    name = arch.meta.get("name")
    title = f"Architecture {_code(name)}" if name else f"Architecture {arch.key}"
    if "trial" in meta:
        title += f": trial {_code(meta['trial'])} (rank {meta.get('rank')}) of run {_code(meta.get('run'))}"
    lines = [f"# {title}", "", "| | |", "|---|---|",
             f"| space | {_code(arch.space)} |", f"| key | {_code(arch.key)} |",
             f"| dataset | {_code(info.name)}: input {'x'.join(map(str, shape[1:]))}, {info.num_classes} classes |"]
    for k, label in (("val_acc", "val_acc (search proxy, %)"), ("score", "objective score"),
                     ("epochs", "proxy epochs"), ("train_seconds", "proxy training seconds")):
        v = meta.get(k) if k == "score" else metrics.get(k)
        if v is not None:
            lines.append(f"| {label} | {v:.4g} |" if isinstance(v, float) else f"| {label} | {v} |")
    if measured.get("params") is not None:
        lines += [f"| params | {_count(measured['params'])} (auxiliary head excluded) |",
                  f"| MACs | {_count(measured['macs'])} (conv + linear, batch 1) |",
                  f"| latency | {measured['latency_ms']:.2f} ms at export (CPU, batch 1, "
                  f"{measured.get('latency_threads', '?')} thread(s), measured as during the search) |"]
    if metrics.get("latency_ms") is not None:
        lines.append(f"| latency during search | {float(metrics['latency_ms']):.2f} ms |")
    if measured.get("params") is None:
        weights = "none: this space builds no model"
    elif trained:
        weights = "trained: `weights.pt` (loaded into every exported format)"
    elif "trial" in meta:
        weights = ("**not trained**: the run kept no weights for this trial, so the exported files hold its "
                   "initial weights; train them with a command below")
    else:
        weights = "**not trained**: no weights were given, so the exported files hold freshly initialised weights"
    lines += [f"| weights | {weights} |", ""]
    if preprocessing is not None:
        from nas.app.export_preprocess import input_lines

        lines += input_lines(preprocessing, tuple(shape))
    geno = _genotype(arch, space)
    if geno is not None:
        lines += [f"## {geno[0]}", "", "```", geno[1], "```", ""]
    kw = ", ".join(f"{k}={v!r}" for k, v in build_kwargs.items())
    lines += ["## Build", "", f"`space.build(arch, {kw})`" if kw else "`space.build(arch)`", ""]
    lines += ["## Files", ""]
    descr = {"arch.yaml": "the architecture (`nas/arch@1` YAML)",
             "space.yaml": "the search space's definition (`nas/space@1`); pass it with `--space`",
             "model.py": "standalone PyTorch code, needs only torch: `from model import build_model, load_weights`",
             "weights.pt": "the `state_dict` (`torch.load(..., weights_only=True)`)",
             "model.ts": f"TorchScript (`torch.jit.load`), made with torch.jit.{torchscript}",
             "model.onnx": "ONNX, dynamic batch dimension, input `x`, output `logits`"}
    lines += [f"- `{f}`: {descr.get(f, '')}" for f in files] + ["- `card.md`: this file", ""]
    lines += ["## Reproduce", "", "```sh"]
    if "model.py" in files:
        lines.append(f"python {shlex.quote(str(folder / 'model.py'))}   # demo forward pass")
    for title_, cmd in commands:
        lines += [f"# {title_}", cmd]
    lines += ["```", ""]
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


__all__ = ["RECIPE_FLAGS", "SUGGESTED_BASELINES", "compare_command", "render_card", "reproduce_commands"]
