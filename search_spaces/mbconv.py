"""The MnasNet/EfficientNet per-stage MBConv space (Tan & Le, ICML 2019; Tan et al., CVPR 2019).

The macro skeleton is EfficientNet-B0's (Tan & Le 2019, Table 1): a 3×3 stem, seven MBConv stages, a 1×1 head conv, pooling and a linear
classifier. Each stage's output channels and first-layer stride are fixed by
the B0 table; like MnasNet's factorized hierarchical space (Tan et al. 2019, §4.1)
each stage chooses its own

* kernel size in {3, 5, 7},
* expansion ratio in {1, 3, 4, 6},
* squeeze-and-excitation ratio in {0, 0.25},
* number of layers in {1, 2, 3, 4},

so there are 96^7 ≈ 7.5·10^13 architectures, EfficientNet-B0 among them. A
block is the dict ``{kernel, expand, se, layers, channels, stride}`` (unscaled
channels). ``macro`` holds EfficientNet's compound-scaling coefficients
``{width, depth, resolution, dropout}`` (B0: 1.0, 1.0, 224, 0.2; tensorflow/tpu
``efficientnet_params``); they are part of the key so that a compound-scaling strategy can search
them. :meth:`MbconvSpace.decode` always yields B0's macro; use
:func:`with_macro` to change it.

Resolution rule: a dataset's native image size stands for B0's 224 px. An
architecture whose macro ``resolution`` r differs from :data:`BASE_RESOLUTION`
(224) is built with a parameter-free bilinear resize in front
(``nas.nn.efficientnet.InputResize``), so a native ``s``×``s`` input is seen at
``floor(s·r/224 + 0.5)`` px: compound scaling's γ^φ then changes what the
network computes (and its MACs) on any dataset, e.g. 8×8 digits at r = 258
(γ = 1.15) are seen at 9×9. Pass the build option ``input_scale=1.0`` when the
data is already at the architecture's resolution.
"""
from __future__ import annotations

import random
from typing import Any, ClassVar, Mapping, Sequence

from nas.arch import Architecture
from nas.errors import ConfigError, InvalidArchitecture
from nas.settings import space_defaults
from nas.spec import ModelSpec
from nas.types import Decision
from search_spaces._common import check_float, check_int, take_options
from search_spaces.base import SearchSpace

#: EfficientNet-B0 stages 2–8 (Tan & Le 2019, Table 1 / tensorflow/tpu block strings): the one copy
#: of the table; ``nas.nn.efficientnet.EfficientNet`` takes the stages as an argument.
B0_STAGES: tuple[dict[str, Any], ...] = (
    {"kernel": 3, "expand": 1, "se": 0.25, "layers": 1, "channels": 16, "stride": 1},
    {"kernel": 3, "expand": 6, "se": 0.25, "layers": 2, "channels": 24, "stride": 2},
    {"kernel": 5, "expand": 6, "se": 0.25, "layers": 2, "channels": 40, "stride": 2},
    {"kernel": 3, "expand": 6, "se": 0.25, "layers": 3, "channels": 80, "stride": 2},
    {"kernel": 5, "expand": 6, "se": 0.25, "layers": 3, "channels": 112, "stride": 1},
    {"kernel": 5, "expand": 6, "se": 0.25, "layers": 4, "channels": 192, "stride": 2},
    {"kernel": 3, "expand": 6, "se": 0.25, "layers": 1, "channels": 320, "stride": 1},
)
#: (width, depth, resolution, dropout) of EfficientNet-B0..B7 (tensorflow/tpu ``efficientnet_params``).
EFFICIENTNET_COEFFICIENTS: dict[str, dict[str, Any]] = {
    "b0": {"width": 1.0, "depth": 1.0, "resolution": 224, "dropout": 0.2},
    "b1": {"width": 1.0, "depth": 1.1, "resolution": 240, "dropout": 0.2},
    "b2": {"width": 1.1, "depth": 1.2, "resolution": 260, "dropout": 0.3},
    "b3": {"width": 1.2, "depth": 1.4, "resolution": 300, "dropout": 0.3},
    "b4": {"width": 1.4, "depth": 1.8, "resolution": 380, "dropout": 0.4},
    "b5": {"width": 1.6, "depth": 2.2, "resolution": 456, "dropout": 0.4},
    "b6": {"width": 1.8, "depth": 2.6, "resolution": 528, "dropout": 0.5},
    "b7": {"width": 2.0, "depth": 3.1, "resolution": 600, "dropout": 0.5},
}
#: EfficientNet-B0's macro coefficients.
B0_MACRO: dict[str, Any] = dict(EFFICIENTNET_COEFFICIENTS["b0"])
#: The searched fields and their options, in decision order.
CHOICES: dict[str, tuple[Any, ...]] = {
    "kernel": (3, 5, 7),
    "expand": (1, 3, 4, 6),
    "se": (0.0, 0.25),
    "layers": (1, 2, 3, 4),
}
BLOCK_FIELDS = ("kernel", "expand", "se", "layers", "channels", "stride")
STEM_CHANNELS = 32
#: the input size a dataset's native size stands for (EfficientNet-B0's resolution)
BASE_RESOLUTION = 224


def with_macro(arch: Architecture, **macro: Any) -> Architecture:
    """A copy of ``arch`` with some macro coefficients replaced (e.g. ``width=1.1``).

    Numbers are coerced to the canonical types (floats; ``resolution`` an int) so
    that equal architectures get equal keys.
    """
    new = dict(arch.macro)
    for k, v in macro.items():
        new[k] = int(v) if k == "resolution" and _is_number(v) else float(v) if _is_number(v) else v
    return Architecture(arch.space, blocks=arch.blocks, macro=new)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _index(options: Sequence[Any], value: Any) -> int | None:
    """Position of ``value`` in ``options``, requiring the option's exact type (int vs float).

    Exact types keep ``==`` and ``.key`` in agreement: ``0 == 0.0`` in Python but the
    key serializes them differently, so ``se: 0`` is rejected in favour of ``se: 0.0``.
    """
    for i, o in enumerate(options):
        if type(value) is type(o) and value == o:
            return i
    return None


class MbconvSpace(SearchSpace):
    """EfficientNet-B0 skeleton; per stage kernel {3,5,7}, expand {1,3,4,6}, SE {0,0.25}, layers {1..4}."""

    name = "mbconv"
    ops = ("mbconv",)
    #: ``"*"``: EfficientNet as published (32-channel stride-2 stem, drop connect 0.2, no proxy
    #: multipliers); ``digits``: stride-1 stem and a quarter-width proxy for 1×8×8 inputs;
    #: ``cifar``: stride-1 stem for 32×32 inputs.
    build_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "*": {"channels": STEM_CHANNELS, "stem_stride": 2, "drop_connect": 0.2, "width_mult": 1.0,
              "depth_mult": 1.0},
        "digits": {"stem_stride": 1, "width_mult": 0.25},
        "cifar": {"stem_stride": 1},
    }

    # -- flat categorical view ------------------------------------------------------
    def decisions(self) -> list[Decision]:
        """``stage{s}.{kernel,expand,se,layers}`` for stages 1..7 (B0 stages 2..8)."""
        return [
            Decision(f"stage{s + 1}.{field}", opts) for s in range(len(B0_STAGES)) for field, opts in CHOICES.items()
        ]

    def encode(self, arch: Architecture) -> list[int]:
        self.ensure_valid(arch)
        assert arch.blocks is not None
        return [_index(opts, b[field]) for b in arch.blocks for field, opts in CHOICES.items()]  # type: ignore[misc]

    def decode(self, choices: Sequence[int]) -> Architecture:
        c = self.check_choices(choices)
        blocks = []
        k = 0
        for stage in B0_STAGES:
            b = dict(stage)
            for field, opts in CHOICES.items():
                b[field] = opts[c[k]]
                k += 1
            blocks.append(b)
        return Architecture(self.name, blocks=tuple(blocks), macro=dict(B0_MACRO))

    def mutate(self, arch: Architecture, rng: random.Random) -> Architecture:
        """Change one field of one uniformly chosen stage to a different option; macro unchanged."""
        choices = self.encode(arch)
        stage = rng.randrange(len(B0_STAGES))
        f = rng.randrange(len(CHOICES))
        k = stage * len(CHOICES) + f
        n = len(list(CHOICES.values())[f])
        choices[k] = rng.choice([i for i in range(n) if i != choices[k]])
        child = self.decode(choices)
        return Architecture(self.name, blocks=child.blocks, macro=arch.macro)

    # -- validation ---------------------------------------------------------------------
    def validate(self, arch: Architecture) -> None:
        self.check_space(arch)
        if arch.blocks is None:
            raise InvalidArchitecture("space 'mbconv': expected 'blocks' (one per stage), got cells")
        if len(arch.blocks) != len(B0_STAGES):
            raise InvalidArchitecture(f"space 'mbconv': expected {len(B0_STAGES)} blocks, got {len(arch.blocks)}")
        for s, (b, ref) in enumerate(zip(arch.blocks, B0_STAGES), start=1):
            self._check_block(b, ref, f"block {s}")
        self._check_macro(arch.macro)

    @staticmethod
    def _check_block(b: Mapping[str, Any], ref: Mapping[str, Any], where: str) -> None:
        missing = [f for f in BLOCK_FIELDS if f not in b]
        if missing:
            raise InvalidArchitecture(f"{where}: missing field(s) {', '.join(missing)}")
        unknown = sorted(map(str, set(b) - set(BLOCK_FIELDS)))
        if unknown:
            raise InvalidArchitecture(f"{where}: unknown field(s) {', '.join(unknown)}")
        for field, opts in CHOICES.items():
            if _index(opts, b[field]) is None:
                kind = type(opts[0]).__name__
                raise InvalidArchitecture(
                    f"{where}: {field} must be one of {', '.join(map(str, opts))} (type {kind}), got {b[field]!r}"
                )
        for field in ("channels", "stride"):
            if type(b[field]) is not int or b[field] != ref[field]:
                raise InvalidArchitecture(
                    f"{where}: {field} is fixed to {ref[field]} by the EfficientNet-B0 table, got {b[field]!r}"
                )

    @staticmethod
    def _check_macro(macro: Mapping[str, Any]) -> None:
        missing = [f for f in B0_MACRO if f not in macro]
        if missing:
            raise InvalidArchitecture(f"macro: missing field(s) {', '.join(missing)}")
        unknown = sorted(map(str, set(macro) - set(B0_MACRO)))
        if unknown:
            raise InvalidArchitecture(f"macro: unknown field(s) {', '.join(unknown)}")
        for f in ("width", "depth"):
            if type(macro[f]) is not float or not 0 < macro[f] <= 16:
                raise InvalidArchitecture(f"macro: {f} must be a float in (0, 16] (e.g. 1.0), got {macro[f]!r}")
        res = macro["resolution"]
        if isinstance(res, bool) or not isinstance(res, int) or not 8 <= res <= 4096:
            raise InvalidArchitecture(f"macro: resolution must be an integer in [8, 4096], got {res!r}")
        if type(macro["dropout"]) is not float or not 0 <= macro["dropout"] < 1:
            raise InvalidArchitecture(f"macro: dropout must be a float in [0, 1), got {macro['dropout']!r}")

    @staticmethod
    def block_label(block: Mapping[str, Any]) -> str:
        """``MBConv6 k3x3``: the op of a stage as EfficientNet-B0's Table 1 names it (for ``nas show``)."""
        return f"MBConv{block.get('expand', '?')} k{block.get('kernel', '?')}x{block.get('kernel', '?')}"

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["choices"] = {k: list(v) for k, v in CHOICES.items()}
        d["macro"] = dict(B0_MACRO)
        return d

    # -- the model ------------------------------------------------------------------------
    def lower(self, arch: Architecture, *, in_channels: int = 3, num_classes: int = 10, channels: int | None = None,
              layers: int | None = None, **options: Any) -> ModelSpec:
        """``nas.nn.efficientnet.EfficientNet`` for the architecture's blocks and macro.

        ``channels`` is the *unscaled* stem width (default 32; the stem gets
        ``round_filters(channels · width)`` like every stage, as in tensorflow/tpu).
        ``layers`` is not used (depth comes from each stage's ``layers`` and the
        ``depth`` coefficient) and must be left unset. Options (defaults in
        :attr:`build_defaults`): ``stem_stride`` (2), ``dropout`` (default: the macro's),
        ``drop_connect`` (0.2), ``width_mult``/``depth_mult`` (1.0: proxy multipliers applied
        *on top of* the architecture's width/depth so that a search proxy can shrink every
        candidate alike) and ``input_scale`` (default: macro resolution / 224, see the
        module docstring; 1.0 = no resize).
        """
        everywhere = space_defaults(self)
        opts = take_options(self.name, options, {"dropout": None, "input_scale": None, **everywhere})
        if layers is not None:
            raise ConfigError(
                "space 'mbconv': build option layers is not used (each stage chooses its layers; "
                "scale depth with the macro 'depth' or depth_mult)"
            )
        stem = check_int(self.name, "channels", everywhere["channels"] if channels is None else channels)
        kwargs: dict[str, Any] = {
            "num_classes": check_int(self.name, "num_classes", num_classes),
            "in_channels": check_int(self.name, "in_channels", in_channels),
            "stem_stride": check_int(self.name, "stem_stride", opts["stem_stride"]),
            "stem_channels": stem,
            "drop_connect": check_float(self.name, "drop_connect", opts["drop_connect"], 0.0, 1.0),
        }
        wm = check_float(self.name, "width_mult", opts["width_mult"], 1e-3, 16.0, hi_open=False)
        dm = check_float(self.name, "depth_mult", opts["depth_mult"], 1e-3, 16.0, hi_open=False)
        self.ensure_valid(arch)
        assert arch.blocks is not None
        dropout = arch.macro["dropout"] if opts["dropout"] is None else opts["dropout"]
        kwargs["dropout"] = check_float(self.name, "dropout", dropout, 0.0, 1.0)
        kwargs["width"] = float(arch.macro["width"]) * wm
        kwargs["depth"] = float(arch.macro["depth"]) * dm
        scale = opts["input_scale"]
        scale = arch.macro["resolution"] / BASE_RESOLUTION if scale is None else scale
        kwargs["input_scale"] = check_float(self.name, "input_scale", scale, 1e-3, 64.0, hi_open=False)
        stages = [{f: b[f] for f in BLOCK_FIELDS} for b in arch.blocks]
        return ModelSpec("EfficientNet", (stages,), kwargs)
