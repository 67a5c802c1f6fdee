"""``nas train ARCH|BASELINE``: train an architecture or a baseline under a named recipe.

``ARCH`` is an architecture YAML (e.g. ``runs/NAME/best/1-t00007/arch.yaml``), a zoo name
(``darts-v2``, ``nasnet-a``, ...), a DARTS ``Genotype(...)`` or NB201 ``|op~0|+...`` string,
or a hand-designed baseline (``resnet20``, ``resnet56``, ``resnet18``, ``mobilenetv2``,
``densenet-bc-100``, ...). ``--recipe full`` (default) is the DARTS CIFAR evaluation
protocol, ``--recipe search`` the short proxy; every recipe field has a flag. Results go to
``--out`` (default ``runs/train-<name>-<timestamp>/``); ``--resume --out DIR`` continues an
interrupted run with its stored settings. See :mod:`nas.app.train_run`.

Flags are checked before any work: ``--cutout`` must be >= 0, ``--channels``/``--layers``
are bounded by :data:`nas.limits.MAX_CHANNELS`/:data:`nas.limits.MAX_LAYERS`, the model's
parameter count by :data:`nas.limits.MAX_PARAMS`, and ``--out`` must be a place where files
can be created.
"""
from __future__ import annotations

import argparse
from typing import Any

from nas.app.cli import count_arg
from nas.limits import MAX_CHANNELS, MAX_LAYERS

#: flag dest -> type for every ``TrainRecipe`` field (tests check this covers them all)
RECIPE_FIELDS: dict[str, type] = {
    "epochs": int, "batch_size": int, "lr": float, "momentum": float, "nesterov": bool, "weight_decay": float,
    "grad_clip": float, "eta_min": float, "auxiliary_weight": float, "drop_path": float, "cutout": int,
    "label_smoothing": float, "amp": bool, "channels_last": bool,
}
_HELP = {
    "epochs": "training epochs (search 8, full 600)", "batch_size": "batch size (search 64, full 96)",
    "lr": "initial learning rate, cosine-annealed (search 0.05, full 0.025)", "momentum": "SGD momentum (0.9)",
    "nesterov": "Nesterov momentum (search on, full off)", "weight_decay": "weight decay (3e-4)",
    "grad_clip": "max gradient norm, 0 = off (5)", "eta_min": "final learning rate of the cosine schedule (0)",
    "auxiliary_weight": "weight of the auxiliary head's loss (search 0, full 0.4)",
    "drop_path": "final drop-path probability, ramped linearly (search 0, full 0.2)",
    "cutout": "cutout length, 0 = off (full: 16 at 32x32, scaled to the image size)",
    "label_smoothing": "label smoothing (0)", "amp": "bf16 autocast on CUDA (on)",
    "channels_last": "channels-last tensors on CUDA (on)",
}
#: other settings: dest -> default for a fresh run
DEFAULTS: dict[str, Any] = {"recipe": "full", "dataset": "digits", "data_dir": None, "download": False,
                            "channels": None, "layers": None, "seed": 0, "data_seed": None, "device": "auto",
                            "out": None}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train", help="train an architecture or baseline (recipes: full, search)",
        description="Train ARCH (YAML file, zoo name, Genotype/NB201 string) or a baseline (resnet20, "
                    "resnet56, resnet18, mobilenetv2, densenet-bc-100, densenet121, ...) and report its "
                    "test accuracy.",
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("arch", nargs="?", metavar="ARCH|BASELINE", help="what to train (optional with --resume)")
    p.add_argument("--recipe", choices=("full", "search"), help="training recipe (default full)")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", help="digits (default), cifar10, cifar100, mnist, fashion-mnist, imagefolder:PATH")
    g.add_argument("--data-dir", help="where the dataset lives")
    g.add_argument("--download", action="store_true", help="allow downloading the dataset")
    g = p.add_argument_group("recipe fields (override the recipe)")
    for name, typ in RECIPE_FIELDS.items():
        flag = "--" + name.replace("_", "-")
        if typ is bool:
            g.add_argument(flag, action=argparse.BooleanOptionalAction, help=_HELP[name])
        else:
            kind = count_arg(1) if name in ("epochs", "batch_size") else count_arg(0) if name == "cutout" else typ
            g.add_argument(flag, type=kind, metavar="N" if typ is int else "X", help=_HELP[name])
    g = p.add_argument_group("model and run")
    g.add_argument("--channels", type=count_arg(1, maximum=MAX_CHANNELS),
                   help="initial channels C (cell spaces: 36 on CIFAR)")
    g.add_argument("--layers", type=count_arg(1, maximum=MAX_LAYERS),
                   help="cells L (cell spaces: 20 on CIFAR) or cells per stage (nb201)")
    g.add_argument("--space", metavar="NAME|FILE",
                   help="the search space of ARCH when it is defined in a space file (format: nas/space@1)")
    g.add_argument("--seed", type=int, help="seed of weights, batch order and augmentation (default 0)")
    g.add_argument("--data-seed", type=int, help="seed of the train/val split (default: --seed)")
    g.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    g.add_argument("--out", metavar="DIR", help="output folder (default runs/train-NAME-TIMESTAMP)")
    g.add_argument("--resume", action="store_true", help="continue the interrupted run in --out DIR")
    g.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def run(args: argparse.Namespace) -> int:
    from nas.errors import ConfigError

    given = dict(vars(args))
    given.pop("_module", None)
    given.pop("command", None)
    resume = bool(given.pop("resume", False))
    given.pop("debug", None)
    space = given.pop("space", None)
    if space:
        from nas.app.cli import use_space

        use_space(space)
    from pathlib import Path

    from nas.app.train_run import check_resume, read_train_yaml, run_training

    def say(text: str) -> None:
        print(text, flush=True)

    if resume:
        if not given.get("out"):
            raise ConfigError("--resume needs --out DIR, the folder of the run to continue")
        out = Path(given["out"])
        settings = check_resume(read_train_yaml(out), given, out)
        return run_training(settings, resume=True, given_arch=given.get("arch"), print_fn=say)
    if not given.get("arch"):
        raise ConfigError("what to train is missing: give ARCH.yaml, a zoo name or a baseline name")
    settings = {"arch": given["arch"], **DEFAULTS}
    settings.update({k: v for k, v in given.items() if k in DEFAULTS})
    settings["overrides"] = {k: v for k, v in given.items() if k in RECIPE_FIELDS}
    return run_training(settings, resume=False, print_fn=say)
