"""``nas show ARCH``: print an architecture, optionally build it (params, MACs) and draw it.

ARCH is anything :func:`nas.zoo.resolve_arch` accepts: a YAML file, a zoo name
(``darts-v2``), a ``Genotype(...)`` string or an NB201 ``|op~0|+...`` string.

When ``--channels``, ``--layers``, ``--auxiliary`` or ``--dataset`` is given the
model is compiled with ``space.build`` and measured: parameters without the
auxiliary head (as quark0/darts ``count_parameters_in_MB`` does, Liu et al., ICLR 2019, Table 1),
plus the total with it when ``--auxiliary`` is set, and conv + linear MACs of one
eval-mode forward pass at the dataset's input size (:mod:`nas.nn.measure`). The
build settings are :func:`nas.settings.build_settings`: the space's ``build_defaults``
for every dataset and for the dataset's family, then the flags (cell spaces: CIFAR
C=36, 20 cells; ImageNet C=48, 14 cells with the ImageNet stem, i.e.
``NetworkImageNet``; Liu et al., ICLR 2019, §3.3); the dataset defaults to cifar10.

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
    from nas.limits import MAX_CHANNELS, MAX_LAYERS

    p.add_argument("--channels", type=count_arg(1, what="a positive integer", maximum=MAX_CHANNELS), metavar="C",
                   help="initial channels (cell spaces: DARTS' C)")
    p.add_argument("--layers", type=count_arg(1, what="a positive integer", maximum=MAX_LAYERS), metavar="L",
                   help="number of cells (NB201: cells per stage)")
    p.add_argument("--auxiliary", action="store_true", help="build with the auxiliary head and count it separately")
    p.add_argument("--dataset", metavar="NAME",
                   help="input shape and classes: cifar10 (default when building), cifar100, imagenet, digits, mnist, ...")
    p.add_argument("--space", metavar="NAME|FILE",
                   help="the search space of ARCH when it is defined in a space file (format: nas/space@1)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--png", metavar="FILE", help="draw each cell as a DAG into this PNG file (needs matplotlib)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


# -- datasets and build settings -------------------------------------------------------------
def wants_model(args: argparse.Namespace) -> bool:
    return any(v not in (None, False) for v in (args.channels, args.layers, args.auxiliary, args.dataset))


def flag_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The build flags that were given (merged over the space's defaults by :func:`nas.settings.build_settings`)."""
    return {"channels": args.channels, "layers": args.layers, "auxiliary": True if args.auxiliary else None}


def measure(arch: Any, space: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Build the model and count parameters and MACs (imports torch)."""
    from nas.errors import ConfigError

    from evaluators.data import dataset_info
    from nas.settings import build_settings

    name = args.dataset or DEFAULT_DATASET
    info = dataset_info(name)
    in_ch, classes, size = info.in_channels, info.num_classes, info.image_size
    kwargs = build_settings(space, info, flag_settings(args))
    first = [k for k in ("channels", "layers") if k in kwargs]  # the size first, then the space's options
    settings = {k: kwargs[k] for k in [*first, *kwargs] if k not in ("in_channels", "num_classes")}
    from nas.limits import build_model_checked  # parameter count checked on the meta device first

    model = build_model_checked(lambda: space.build(arch, **kwargs), what=f"{arch.space} model")
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
    from nas.zoo import get_space, resolve_arch, text_formats

    if args.png:
        from nas.limits import check_writable_file

        check_writable_file(args.png, "--png")  # before any work; creates nothing
    if args.space:
        from nas.app.cli import use_space

        use_space(args.space)
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
            **{fmt: strings.get(fmt) for fmt in text_formats()},  # each registered space's string formats
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
