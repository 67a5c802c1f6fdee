"""Op library, cell compiler, tiny forwards, measurement and standalone export (nas.nn)."""
from __future__ import annotations

import ast
import math
import sys
import warnings

import pytest
import torch
import torch.nn as nn

import nas.nn as nnlib
from nas.nn import (
    OPS, Cell, EfficientNet, MBConv, NetworkCIFAR, NetworkImageNet,
    TinyNetwork, make_op, round_filters, round_repeats,
)
from search_spaces.mbconv import B0_STAGES
from nas.nn.measure import count_macs, count_params, measure_latency_ms
from nas.nn.ops import FactorizedReduce, Identity, SepConv, Zero


def _cell(pairs, concat):
    """DARTS flat genotype (two pairs per node) -> (nodes, concat) for Cell."""
    return [("add", [pairs[i], pairs[i + 1]]) for i in range(0, len(pairs), 2)], concat


DARTS_V2 = (
    _cell([("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
           ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)], [2, 3, 4, 5]),
    _cell([("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
           ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)], [2, 3, 4, 5]),
)
NB201_RESNET = [[("nor_conv_3x3", 0)], [("none", 0), ("nor_conv_3x3", 1)],
                [("skip_connect", 0), ("none", 1), ("skip_connect", 2)]]


def _n(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _bn(c: int) -> int:
    return 2 * c


def _reference_params(name: str, C: int) -> int:
    """Parameter counts of the reference definitions at C_in == C_out == C, affine (quark0/darts cnn/operations.py; AutoDL-Projects cell_operations.py)."""
    sep = {"sep_conv_3x3": 3, "sep_conv_5x5": 5, "sep_conv_7x7": 7}
    dil = {"dil_conv_3x3": 3, "dil_conv_5x5": 5}
    fac = {"conv_7x1_1x7": 7, "conv_3x1_1x3": 3}
    plain = {"conv_1x1": 1, "conv_3x3": 3, "nor_conv_1x1": 1, "nor_conv_3x3": 3}
    if name in sep:
        k = sep[name]
        return 2 * (C * k * k + C * C + _bn(C))
    if name in dil:
        k = dil[name]
        return C * k * k + C * C + _bn(C)
    if name in fac:
        k = fac[name]
        return 2 * C * C * k + _bn(C)
    if name in plain:
        k = plain[name]
        return C * C * k * k + _bn(C)
    return 0  # none, pools, identity


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("c_in,c_out", [(6, 6), (4, 6), (8, 6)])
@pytest.mark.parametrize("size", [8, 7])
def test_every_op_shapes(name, stride, c_in, c_out, size):
    torch.manual_seed(0)
    op = make_op(name, c_in, c_out, stride)
    y = op(torch.randn(2, c_in, size, size + 1))
    assert y.shape == (2, c_out, math.ceil(size / stride), math.ceil((size + 1) / stride))


@pytest.mark.parametrize("name", sorted(OPS))
def test_ops_match_reference_definitions(name):
    C = 8
    op = make_op(name, C, C, 1)
    assert _n(op) == _reference_params(name, C)
    if name in ("none", "skip_connect") or "pool" in name:
        assert _n(op) == 0
    if name == "skip_connect":
        assert isinstance(op, Identity)
        red = make_op(name, C, C, 2)
        assert isinstance(red, FactorizedReduce) and _n(red) == 2 * (C * C // 2) + _bn(C)
    if name == "avg_pool_3x3":
        assert isinstance(op, nn.AvgPool2d) and op.count_include_pad is False and op.padding == 1
    if name.startswith("max_pool"):
        k = int(name[-1])
        assert isinstance(op, nn.MaxPool2d) and op.kernel_size == k and op.padding == k // 2
    if name in ("nor_conv_1x1", "nor_conv_3x3"):  # NB201: bias = not affine
        assert _n(make_op(name, C, C, 1, affine=False)) == C * C * (int(name[-1]) ** 2) + C
        assert _n(make_op(name.replace("nor_", ""), C, C, 1, affine=False)) == C * C * (int(name[-1]) ** 2)


def test_zero_op():
    x = torch.randn(2, 4, 7, 8)
    z = make_op("none", 4, 4, 2)
    assert isinstance(z, Zero)
    y = z(x)
    assert y.shape == (2, 4, 4, 4) and torch.count_nonzero(y) == 0
    y = make_op("none", 4, 10, 2)(x)
    assert y.shape == (2, 10, 4, 4) and torch.count_nonzero(y) == 0


def test_sepconv_stride_only_in_first_depthwise():
    op = make_op("sep_conv_5x5", 4, 6, 2)
    assert isinstance(op, SepConv)
    convs = [m for m in op.modules() if isinstance(m, nn.Conv2d)]
    assert [c.stride for c in convs] == [(2, 2), (1, 1), (1, 1), (1, 1)]
    assert [c.groups for c in convs] == [4, 1, 4, 1]
    assert convs[-1].out_channels == 6
    relus = [m for m in op.modules() if isinstance(m, nn.ReLU)]
    assert len(relus) == 2  # the separable conv is applied twice


def test_factorized_reduce_even_matches_reference_and_odd_works():
    torch.manual_seed(0)
    fr = FactorizedReduce(4, 6).eval()
    x = torch.randn(2, 4, 8, 8)
    r = torch.relu(x)
    ref = fr.bn(torch.cat([fr.conv_1(r), fr.conv_2(r[:, :, 1:, 1:])], dim=1))
    assert torch.allclose(fr(x), ref)
    assert fr(torch.randn(2, 4, 7, 9)).shape == (2, 6, 4, 5)
    assert fr(torch.randn(2, 4, 1, 1)).shape == (2, 6, 1, 1)
    with pytest.raises(ValueError):
        FactorizedReduce(4, 5)


def test_make_op_errors():
    with pytest.raises(KeyError, match="sep_conv_9x9"):
        make_op("sep_conv_9x9", 4, 4, 1)
    with pytest.raises(ValueError, match="stride"):
        make_op("sep_conv_3x3", 4, 4, 3)
    with pytest.raises(ValueError, match="C_in"):
        make_op("sep_conv_3x3", 0, 4, 1)
    with pytest.raises(ValueError, match="even"):
        make_op("skip_connect", 4, 5, 2)


def test_drop_path_spares_identity_edges():
    torch.manual_seed(0)
    nodes = [("add", [("skip_connect", 1)]), ("add", [("avg_pool_3x3", 1)])]
    cell = Cell(nodes, [2, 3], 4, 4, 4, reduction=False, reduction_prev=False).train()
    s = torch.randn(16, 4, 5, 5)
    clean = cell(s, s, 0.0)
    dropped = cell(s, s, 0.5)
    ident, pooled = clean[:, :4], clean[:, 4:]
    assert torch.equal(dropped[:, :4], ident)  # Identity edge untouched
    per_sample = dropped[:, 4:]
    kept = [torch.allclose(per_sample[i], 2 * pooled[i], atol=1e-6) for i in range(16)]
    zero = [bool(torch.count_nonzero(per_sample[i]) == 0) for i in range(16)]
    assert all(k or z for k, z in zip(kept, zero)) and any(kept) and any(zero)
    cell.eval()
    assert torch.equal(cell(s, s, 0.5), cell(s, s, 0.0))


def test_cell_concat_combine_and_repeated_input():
    nodes = [("concat", [("sep_conv_3x3", 0), ("avg_pool_3x3", 0)]),   # NASNet-A style: same input twice
             ("add", [("sep_conv_3x3", 2), ("skip_connect", 2)]),       # reads the 2C-wide state
             ("concat", [("max_pool_3x3", 1), ("conv_1x1", 3), ("skip_connect", 1)])]
    cell = Cell(nodes, [2, 3, 4], 10, 12, 4, reduction=True, reduction_prev=True)
    assert cell.out_channels == 8 + 4 + 12
    y = cell(torch.randn(2, 10, 16, 16), torch.randn(2, 12, 8, 8))
    assert y.shape == (2, 24, 4, 4)


@pytest.mark.parametrize("nodes,concat,match", [
    ([("add", [("sep_conv_3x3", 2)])], [2], "earlier state"),
    ([("mul", [("sep_conv_3x3", 0)])], [2], "combine"),
    ([("add", [])], [2], "at least one"),
    ([("add", [("sep_conv_3x3", 0)])], [3], "concat entry"),
    ([("add", [("bogus", 0)])], [2], "bogus"),
])
def test_cell_rejects_bad_specs(nodes, concat, match):
    with pytest.raises(ValueError, match=match):
        Cell(nodes, concat, 4, 4, 4, reduction=False, reduction_prev=False)


def test_network_cifar_tiny_digits_with_aux():
    torch.manual_seed(0)
    net = NetworkCIFAR(*DARTS_V2, C=8, num_classes=10, layers=3, auxiliary=True, in_channels=1)
    net.drop_path_prob = 0.2
    x = torch.randn(3, 1, 8, 8)
    logits, aux = net.train()(x)
    assert logits.shape == (3, 10) and aux.shape == (3, 10)
    (logits.sum() + aux.sum()).backward()
    assert net.eval()(x).shape == (3, 10)


def test_aux_head_pooling_reference_and_fallback():
    from nas.nn.networks import AuxPool
    x = torch.randn(2, 5, 8, 8)
    ref = nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False)(x)
    assert torch.equal(AuxPool(3)(x), ref)
    assert AuxPool(3)(torch.randn(2, 5, 2, 2)).shape == (2, 5, 2, 2)
    assert AuxPool(2)(torch.randn(2, 5, 7, 7)).shape == (2, 5, 2, 2)


def test_network_imagenet_and_stem_stride_tiny():
    torch.manual_seed(0)
    net = NetworkImageNet(*DARTS_V2, C=8, num_classes=10, layers=3, auxiliary=True, in_channels=1).train()
    logits, aux = net(torch.randn(2, 1, 16, 16))
    assert logits.shape == (2, 10) and aux.shape == (2, 10)
    net2 = NetworkCIFAR(*DARTS_V2, C=8, num_classes=5, layers=3, stem_stride=2).eval()
    assert net2(torch.randn(2, 3, 16, 16)).shape == (2, 5)


def test_tinynetwork_and_efficientnet_tiny_digits():
    torch.manual_seed(0)
    x = torch.randn(2, 1, 8, 8)
    tiny = TinyNetwork(NB201_RESNET, C=4, N=1, num_classes=10, in_channels=1)
    assert tiny.train()(x).shape == (2, 10) and tiny.eval()(x).shape == (2, 10)
    eff = EfficientNet([dict(b) for b in B0_STAGES], width=0.25, depth=0.34, num_classes=10, in_channels=1)
    assert eff.train()(x).shape == (2, 10) and eff.eval()(x).shape == (2, 10)
    with pytest.raises(ValueError, match="source"):
        TinyNetwork([[("nor_conv_3x3", 1)]], C=4, N=1)


def test_mbconv_structure():
    m = MBConv(16, 16, 3, 1, expand=1, se=0.0, drop_prob=0.1)
    assert m.use_res_connect and len(m.block) == 2  # no expand, no SE: depthwise + project
    m = MBConv(16, 24, 5, 2, expand=6, se=0.25)
    assert not m.use_res_connect
    dw = m.block[1][0]
    assert dw.groups == 96 and dw.stride == (2, 2) and dw.kernel_size == (5, 5)
    assert m.block[2].fc1.out_channels == 4 and not isinstance(m.block[-1][-1], nn.SiLU)
    assert m(torch.randn(2, 16, 9, 9)).shape == (2, 24, 5, 5)
    eff = EfficientNet([dict(b) for b in B0_STAGES], drop_connect=0.2)
    probs = [b.stochastic_depth.p for stage in eff.features[1:-1] for b in stage]
    assert probs == pytest.approx([0.2 * i / 16 for i in range(16)])


def test_rounding_matches_torchvision():
    from torchvision.models._utils import _make_divisible
    for c in (16, 24, 32, 40, 80, 112, 192, 320, 1280):
        for w in (0.25, 0.5, 1.0, 1.1, 1.2, 1.4, 1.8, 2.0):
            assert round_filters(c, w) == _make_divisible(c * w, 8)
    assert [round_repeats(r, 1.4) for r in (1, 2, 3, 4)] == [math.ceil(1.4 * r) for r in (1, 2, 3, 4)]


def test_measure_utilities():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, groups=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=4),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5))
    expected = 6 * 6 * 8 * 3 * 9 + 3 * 3 * 8 * 2 * 9 + 8 * 5
    model.train()
    assert count_macs(model, (1, 3, 6, 6)) == expected
    assert model.training  # mode restored
    assert count_macs(model, (2, 3, 6, 6)) == 2 * expected
    net = NetworkCIFAR(*DARTS_V2, C=8, num_classes=10, layers=3, auxiliary=True)
    aux = sum(p.numel() for p in net.auxiliary_head.parameters())
    assert aux > 0 and count_params(net, exclude_aux=False) == count_params(net) + aux
    ms = measure_latency_ms(model, (1, 3, 6, 6), warmup=1, repeats=3)
    assert ms > 0 and model.training


ALLOWED_IMPORTS = {"torch", "torch.nn", "torch.nn.functional", "math", "typing", "collections"}


def test_standalone_source_is_self_contained():
    names: dict[str, str] = {}
    for mod in nnlib.SOURCE_MODULES:
        tree = ast.parse(open(sys.modules[mod].__file__).read())
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                assert node.module in ALLOWED_IMPORTS or node.module.startswith("nas.nn."), node.module
                assert node.module != "__future__"
            elif isinstance(node, ast.Import):
                assert all(a.name in ALLOWED_IMPORTS for a in node.names)
            for target in _defined_names(node):
                assert target not in names, f"{target} defined in {names.get(target)} and {mod}"
                names[target] = mod
    source = nnlib.standalone_source()
    assert "import nas" not in source and "from nas" not in source
    namespace: dict = {"__name__": "standalone_model"}
    exec(compile(source, "model.py", "exec"), namespace)
    torch.manual_seed(0)
    ours = NetworkCIFAR(*DARTS_V2, C=8, num_classes=10, layers=3, auxiliary=True, in_channels=1).eval()
    theirs = namespace["NetworkCIFAR"](*DARTS_V2, C=8, num_classes=10, layers=3, auxiliary=True,
                                       in_channels=1).eval()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(ours(x), theirs(x))
    assert "nas" not in type(theirs).__module__


def _defined_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def test_torchscript_compiles_tiny_network():
    torch.manual_seed(0)
    net = NetworkCIFAR(*DARTS_V2, C=8, num_classes=10, layers=3, auxiliary=True, in_channels=1).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(net)
    x = torch.randn(2, 1, 8, 8)
    assert torch.allclose(scripted(x), net(x))
