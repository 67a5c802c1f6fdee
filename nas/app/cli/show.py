"""``nas show ARCH``: print an architecture, optionally build it (params, MACs) and draw it.

ARCH is anything :func:`nas.zoo.resolve_arch` accepts: a YAML file, a zoo name
(``darts-v2``), a ``Genotype(...)`` string or an NB201 ``|op~0|+...`` string.

When ``--channels``, ``--layers``, ``--auxiliary`` or ``--dataset`` is given the
model is compiled with ``space.build`` and measured: parameters without the
auxiliary head (as quark0/darts ``count_parameters_in_MB`` does, REFERENCE §3.1),
plus the total with it when ``--auxiliary`` is set, and conv + linear MACs of one
eval-mode forward pass at the dataset's input size (:mod:`nas.nn.measure`). The
build settings come from the space's ``build_defaults`` for the dataset's family
(cell spaces: CIFAR C=36, 20 cells; ImageNet C=48, 14 cells with the ImageNet
stem, i.e. ``NetworkImageNet``; REFERENCE §3.5); the dataset defaults to cifar10.

Everything is computed before anything is printed or written; the PNG is written
atomically and only on success, so a bad input (exit 2) leaves no partial output.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from nas.app.cli import count_arg

DEFAULT_DATASET = "cifar10"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "show", help="print an architecture; with build flags also params and MACs",
        description="Print an architecture (YAML path, zoo name, Genotype(...) or NB201 string) as text. "
                    "With --channels/--layers/--auxiliary/--dataset also build the model and report "
                    "parameters and MACs.",
    )
    p.add_argument("arch", metavar="ARCH", help="YAML file, zoo name (e.g. darts-v2), Genotype(...) or |op~0|+... string")
    positive = count_arg(1, what="a positive integer")
    p.add_argument("--channels", type=positive, metavar="C", help="initial channels (cell spaces: DARTS' C)")
    p.add_argument("--layers", type=positive, metavar="L", help="number of cells (NB201: cells per stage)")
    p.add_argument("--auxiliary", action="store_true", help="build with the auxiliary head and count it separately")
    p.add_argument("--dataset", metavar="NAME",
                   help="input shape and classes: cifar10 (default when building), cifar100, imagenet, digits, mnist, ...")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--png", metavar="FILE", help="draw each cell as a DAG into this PNG file (needs matplotlib)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


# -- datasets and build settings -------------------------------------------------------------
def dataset_shape(name: str) -> tuple[int, int, int, str]:
    """``(in_channels, num_classes, image_size, family)`` of a dataset name (no loading)."""
    from evaluators.data import dataset_info

    info = dataset_info(name)
    return info.in_channels, info.num_classes, info.image_size, info.family


def wants_model(args: argparse.Namespace) -> bool:
    return any(v not in (None, False) for v in (args.channels, args.layers, args.auxiliary, args.dataset))


def build_settings(space: Any, family: str, args: argparse.Namespace) -> dict[str, Any]:
    """``space.build`` keyword arguments: the family's ``build_defaults``, then the flags."""
    settings = dict((getattr(space, "build_defaults", {}) or {}).get(family, {}))
    if args.channels is not None:
        settings["channels"] = args.channels
    if args.layers is not None:
        settings["layers"] = args.layers
    if args.auxiliary:
        settings["auxiliary"] = True
    return settings


def measure(arch: Any, space: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Build the model and count parameters and MACs (imports torch)."""
    from nas.errors import ConfigError

    name = args.dataset or DEFAULT_DATASET
    in_ch, classes, size, family = dataset_shape(name)
    settings = build_settings(space, family, args)
    model = space.build(arch, in_channels=in_ch, num_classes=classes, **settings)
    from nas.nn.measure import count_macs, count_params

    shape = (1, in_ch, size, size)
    try:
        macs = count_macs(model, shape)
    except (RuntimeError, ValueError) as e:  # e.g. an input too small for the network's reductions
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"cannot run {type(model).__name__} on input {'x'.join(map(str, shape))}: {first}") from None
    out: dict[str, Any] = {
        "model": type(model).__name__,
        "dataset": name,
        "num_classes": classes,
        "input_shape": list(shape),
        "build": settings,
        "params": count_params(model, exclude_aux=True),
        "params_with_aux": count_params(model, exclude_aux=False) if args.auxiliary else None,
        "macs": macs,
    }
    return out


# -- command ---------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    from nas.errors import ConfigError
    from nas.app.render import arch_strings, render_arch, render_model
    from nas.zoo import get_space, resolve_arch

    arch = resolve_arch(args.arch)
    space = get_space(arch.space)
    space.validate(arch)
    model = measure(arch, space, args) if wants_model(args) else None
    png = None
    if args.png:
        from nas.app.draw import draw_arch

        png = draw_arch(arch, title=str(arch.meta.get("name") or args.arch))
    if args.json:
        strings = arch_strings(arch, space)
        obj = {
            "name": arch.meta.get("name"),
            "space": arch.space,
            "key": arch.key,
            "arch": arch.to_dict(),
            "genotype": strings.get("genotype"),
            "nb201": strings.get("nb201"),
            "params": None if model is None else model["params"],
            "params_with_aux": None if model is None else model["params_with_aux"],
            "macs": None if model is None else model["macs"],
            "model": model,
        }
        text = json.dumps(obj, indent=1, default=str) + "\n"
    else:
        text = render_arch(arch, space)
        if model is not None:
            text += "\n" + render_model(model)
    if png is not None:
        from nas.io import atomic_write_bytes

        try:
            atomic_write_bytes(args.png, png)
        except OSError as e:
            raise ConfigError(f"--png {args.png}: cannot write: {e.strerror or e}") from None
        if not args.json:
            text += f"\nwrote {args.png}\n"
    sys.stdout.write(text)
    return 0
