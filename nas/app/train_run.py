"""``nas train``: train one architecture or baseline under a named recipe, resumably.

What gets trained (:func:`resolve_target`): an architecture YAML file, a literature
architecture from :mod:`nas.zoo` (``darts-v2``, ``nasnet-a``, ...), a DARTS
``Genotype(...)`` or NAS-Bench-201 string (any string format a registered space declares),
or a hand-designed baseline from :mod:`nas.app.baselines` (``resnet20``, ``resnet18``, ...).
Architectures are built by their space with :func:`nas.settings.build_settings` (the space's
defaults for the dataset's family, e.g. C=36, 20 cells for the cell spaces on CIFAR),
``--channels``/``--layers`` on top, and the auxiliary head when the recipe's
``auxiliary_weight`` is > 0 and the space has one.

Recipes are :data:`evaluators.trainer.RECIPES`; every field can be overridden.
``full`` is the DARTS CIFAR evaluation protocol (Liu et al., ICLR 2019, App. A.2: 600 epochs, batch 96,
SGD lr 0.025 cosine, wd 3e-4, auxiliary weight 0.4, cutout 16, drop path 0.2). Its cutout
length is meant for 32x32 images: unless ``--cutout`` is given it is scaled by
``image_size / 32`` (8x8 digits -> 4; a 16-pixel hole would blank a digit), and set to 0
for the ``imagenet`` family (the DARTS ImageNet recipe has no cutout).

The output folder holds ``train.yaml`` (resolved settings, written once), ``arch.yaml``
(architectures), ``checkpoint.pt`` (full training state after every epoch),
``metrics.csv`` (one row per epoch), and at the end ``weights.pt`` (final ``state_dict``)
and ``result.yaml`` (params, MACs, best/final validation accuracy and the **test**
accuracy, measured once, here only). ``--resume`` continues from ``checkpoint.pt`` with
the stored settings; on CPU the final weights equal those of an uninterrupted run.
Test hook: ``NAS_TRAIN_STOP_AFTER=N`` ends the process cleanly after epoch N (checkpoint kept).
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from nas.arch import Architecture
from nas.errors import ConfigError, InvalidArchitecture, NasError
from nas.io import atomic_write_text, read_yaml_doc
from nas.limits import check_writable_dir

TRAIN_FORMAT = "nas/train@1"
#: settings a resumed run may change (where and how it runs, not what it computes)
RESUME_MUTABLE = frozenset({"device", "data_dir", "download", "debug", "out", "resume"})


@dataclass
class Target:
    """What ``nas train`` trains: an architecture (built by its space) or a hand-designed baseline."""

    kind: str            # "arch" | "baseline"
    name: str            # for folder names and messages
    arch: Architecture | None = None


def _is_file(text: str) -> bool:
    try:
        return Path(text).expanduser().is_file()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte, ...
        return False


def resolve_target(text: str) -> Target:
    """YAML path, zoo name, Genotype/NB201 string (-> arch) or baseline name (-> baseline)."""
    from nas.app.baselines import canonical_name, is_zoo_baseline, list_baselines
    from nas.layout import safe_name
    from nas.zoo import registered_spaces, resolve_arch

    s = str(text).strip()
    base = canonical_name(s) if s else None
    is_text = any(sp.accepts_text(s) for sp in registered_spaces())  # an architecture string of some space
    is_path = not is_text and (_is_file(s) or s.lower().endswith((".yaml", ".yml")))
    if base is not None and not is_path and not is_zoo_baseline(base):
        return Target("baseline", base)
    try:
        arch = resolve_arch(s)
    except InvalidArchitecture as e:
        if "cannot resolve architecture" in str(e):
            raise InvalidArchitecture(f"{e}; or a baseline: {', '.join(list_baselines())}") from None
        raise
    if is_path:
        p = Path(s).expanduser()
        name = str(arch.meta.get("name") or (p.parent.name if p.stem == "arch" and p.parent.name else p.stem))
    elif is_text:
        name = f"{arch.space}-{arch.key[:8]}"
    else:
        name = str(arch.meta.get("name") or s)
    return Target("arch", safe_name(name.lower()), arch)


def make_recipe(recipe: str, overrides: Mapping[str, Any], info: Any) -> tuple[Any, list[str]]:
    """The named recipe with ``overrides``, the preset cutout scaled to the image size (see module doc)."""
    from evaluators.trainer import RECIPES, TrainRecipe

    notes = []
    over = dict(overrides)
    preset_cutout = int(RECIPES.get(recipe, {}).get("cutout", 0))
    if "cutout" not in over and preset_cutout > 0 and (info.image_size != 32 or info.family == "imagenet"):
        scaled = 0 if info.family == "imagenet" else max(1, round(preset_cutout * info.image_size / 32))
        over["cutout"] = scaled
        notes.append(f"cutout {preset_cutout} (for 32x32 inputs) set to {scaled} for {info.image_size}x"
                     f"{info.image_size} {info.family} images")
    return TrainRecipe.preset(recipe, **over), notes


def build_target(target: Target, info: Any, recipe: Any, *, seed: int, channels: int | None,
                 layers: int | None) -> tuple[Any, dict[str, Any], list[str]]:
    """``(model, build kwargs, notes)``; weights initialised after ``torch.manual_seed(seed)``."""
    notes: list[str] = []
    size = {k: v for k, v in (("channels", channels), ("layers", layers)) if v is not None}
    if target.kind == "baseline":
        from nas.app.baselines import build_baseline

        model = _seeded_build(lambda: build_baseline(target.name, info, **size), seed, target.name)
        kwargs: dict[str, Any] = {}
    else:
        from nas.settings import build_settings
        from nas.zoo import get_space

        assert target.arch is not None
        space = get_space(target.arch.space)
        kwargs = build_settings(space, info, size)
        if recipe.auxiliary_weight > 0:
            try:
                model = _seeded_build(lambda: space.build(target.arch, **{**kwargs, "auxiliary": True}), seed,
                                      target.name)
                kwargs["auxiliary"] = True
            except ConfigError as e:
                if "auxiliary" not in str(e):
                    raise
                notes.append(f"space {space.name!r} has no auxiliary head: auxiliary_weight is not used")
                model = None
        if recipe.auxiliary_weight <= 0 or model is None:
            model = _seeded_build(lambda: space.build(target.arch, **kwargs), seed, target.name)
    if recipe.drop_path > 0 and not hasattr(model, "drop_path_prob"):
        notes.append("this model has no drop path: drop_path is not used")
    return model, kwargs, notes


def _seeded_build(make: Callable[[], Any], seed: int, what: str) -> Any:
    """``make()`` after ``torch.manual_seed(seed)``, within the model-size limit (:mod:`nas.limits`)."""
    import torch

    from nas.limits import build_model_checked

    def build() -> Any:
        torch.manual_seed(seed)
        return make()

    return build_model_checked(build, what=f"model {what}")


def default_out(target: Target) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"train-{target.name}-{stamp}"


def read_train_yaml(out: Path) -> dict[str, Any]:
    p = out / "train.yaml"
    if not p.is_file():
        raise ConfigError(f"{out}: nothing to resume (no train.yaml); start it without --resume")
    return read_yaml_doc(p, TRAIN_FORMAT, "settings")


def check_resume(doc: dict[str, Any], given: Mapping[str, Any], out: Path) -> dict[str, Any]:
    """Stored settings updated with the ``given`` flags that may change; others must be equal."""
    settings = dict(doc["settings"])
    recipe = dict(doc.get("recipe") or {})
    for key, value in given.items():
        if key == "arch":
            continue  # checked against the stored target by run_training
        if key in RESUME_MUTABLE:
            settings[key] = value
            continue
        old = recipe.get(key) if key in recipe else settings.get(key)
        if old != value:
            raise ConfigError(f"{out / 'train.yaml'}: field {key!r} is {old!r}; resuming with {key}={value!r} "
                              "would change the training (start a new --out instead)")
    return settings


def run_training(settings: Mapping[str, Any], *, resume: bool, given_arch: str | None = None,
                 print_fn: Callable[[str], None] = print) -> int:
    """Resolve, check, load data, then train; see the module docstring. Returns the exit code.

    ``settings``: arch, recipe, dataset, data_dir, download, overrides (recipe fields),
    channels, layers, seed, data_seed, device, out. With ``resume`` they are the stored ones
    (:func:`check_resume`) and ``given_arch``, if any, must name the stored target.
    """
    from evaluators.checkpoint import atomic_torch_save
    from evaluators.data import dataset_info, load_data
    from evaluators.trainer import (StopTraining, TrialFailed, evaluate, resolve_device, train,
                                    write_csv)
    from nas.nn.measure import count_macs, count_params
    from nas.app.rundir import versions

    s = dict(settings)
    out = Path(s["out"]) if s.get("out") else None
    if resume:
        assert out is not None
        target = _stored_target(out, read_train_yaml(out))
        if given_arch:
            _check_same_target(resolve_target(given_arch), target, out)
    else:
        target = resolve_target(s["arch"])
        out = out or default_out(target)
        check_writable_dir(out, "--out")  # before any work; creates nothing
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ConfigError(f"{out}: already exists; continue it with --resume or choose another --out")
    info = dataset_info(s["dataset"], s.get("data_dir"))
    recipe, notes = make_recipe(s["recipe"], s.get("overrides") or {}, info)
    device = resolve_device(s.get("device") or "auto")
    seed, data_seed = int(s["seed"]), int(s["data_seed"] if s.get("data_seed") is not None else s["seed"])
    model, build_kwargs, build_notes = build_target(target, info, recipe, seed=seed, channels=s.get("channels"),
                                                    layers=s.get("layers"))
    notes += build_notes
    shape = (1, info.in_channels, info.image_size, info.image_size)
    params, macs = count_params(model), count_macs(model, shape)
    data = load_data(s["dataset"], data_dir=s.get("data_dir"), download=bool(s.get("download")), seed=data_seed,
                     device=device)

    out.mkdir(parents=True, exist_ok=True)
    if not resume:
        if target.arch is not None:
            target.arch.save(out / "arch.yaml")
        doc = {"format": TRAIN_FORMAT, "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
               "target": {"kind": target.kind, "name": target.name, "space": getattr(target.arch, "space", None),
                          "key": getattr(target.arch, "key", None)},
               "settings": {k: v for k, v in s.items() if k not in ("resume", "debug")},
               "dataset": dataclasses.asdict(info),
               "recipe": recipe.to_dict(), "build": build_kwargs, "seed": seed, "data_seed": data_seed,
               "params": params, "macs": macs, "notes": notes, "versions": versions()}
        atomic_write_text(out / "train.yaml", yaml.safe_dump(doc, sort_keys=False))
    for n in notes:
        print_fn(f"note: {n}")
    what = f"{target.kind} {target.name}" + (f" (space {target.arch.space})" if target.arch is not None else "")
    print_fn(f"train {what} on {info.name} with recipe {s['recipe']} ({recipe.epochs} epochs) on {device}: "
             f"{params:,} params, {macs / 1e6:.2f}M MACs -> {out}/")
    stop_after = int(os.environ.get("NAS_TRAIN_STOP_AFTER", "0") or 0)

    def on_epoch(row: dict[str, float]) -> None:
        print_fn(f"epoch {int(row['epoch'])}/{recipe.epochs}  lr {row['lr']:.5f}  loss {row['train_loss']:.4f}  "
                 f"train_acc {row['train_acc']:.2f}  val_acc {row['val_acc']:.2f}  ({row['seconds']:.1f}s)")
        if stop_after and int(row["epoch"]) >= stop_after and int(row["epoch"]) < recipe.epochs:
            raise StopTraining

    try:
        outcome = train(model, data, recipe, device=device, seed=seed, checkpoint=out / "checkpoint.pt",
                        on_epoch=on_epoch, log_csv=out / "metrics.csv")
    except TrialFailed as e:  # diverged or out of memory: the run failed, the input was fine (exit 1)
        sys.stderr.write(f"nas: training failed: {e}; the last good epoch is in {out / 'checkpoint.pt'}\n")
        return 1
    if outcome.stopped:
        print_fn(f"stopped after epoch {outcome.epochs}; continue with: nas train --resume --out {out}")
        return 0
    write_csv(out / "metrics.csv", outcome.history)
    test_acc = evaluate(model, data.test, device=device, batch_size=max(256, recipe.batch_size), amp=recipe.amp,
                        channels_last=recipe.channels_last)
    atomic_torch_save({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, out / "weights.pt")
    val = outcome.val_acc
    best_epoch = max(range(len(val)), key=lambda i: (val[i], -i)) + 1 if val else None
    result = {"params": params, "macs": macs, "epochs": outcome.epochs, "best_val_acc": outcome.best_val_acc,
              "best_epoch": best_epoch, "final_val_acc": outcome.final_val_acc, "test_acc": test_acc,
              "train_seconds": outcome.train_seconds, "weights": "weights.pt"}
    atomic_write_text(out / "result.yaml", yaml.safe_dump({k: _num(v) for k, v in result.items()}, sort_keys=False))
    print_fn(f"done: {target.name}  params {params:,}  MACs {macs / 1e6:.2f}M  best val_acc "
             f"{outcome.best_val_acc:.2f} (epoch {best_epoch})  final val_acc {outcome.final_val_acc:.2f}  "
             f"test_acc {test_acc:.2f}")
    print_fn(f"weights: {out / 'weights.pt'}")
    return 0


def _num(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _stored_target(out: Path, doc: dict[str, Any]) -> Target:
    t = doc.get("target") or {}
    if t.get("kind") == "baseline":
        return Target("baseline", str(t.get("name")))
    if t.get("kind") != "arch":
        raise ConfigError(f"{out / 'train.yaml'}: field 'target.kind' must be arch or baseline")
    from nas.zoo import validate

    try:
        arch = validate(Architecture.load(out / "arch.yaml"))
    except NasError as e:
        raise ConfigError(f"{out}: cannot resume: {e}") from None
    return Target("arch", str(t.get("name")), arch)


def _check_same_target(given: Target, stored: Target, out: Path) -> None:
    same = given.kind == stored.kind and (given.name == stored.name if given.kind == "baseline"
                                         else given.arch == stored.arch)
    if not same:
        raise ConfigError(f"{out}: was trained on {stored.kind} {stored.name!r}, not {given.kind} {given.name!r}; "
                          "omit the architecture to resume it, or choose another --out")
