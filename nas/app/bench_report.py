"""The output of ``nas bench``: the markdown results table beside the published rows
(:func:`format_markdown`), the anytime-curve PNG with its reference lines (:func:`anytime_png`,
:func:`plot_curves`) and the files of a bench directory (:func:`write_outputs`: ``bench.md``,
``bench.json``, ``anytime.csv``, ``anytime.png``, ``report.html``), all from the result dict of
:func:`nas.app.bench.run_bench`.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

from nas.app.bench import PUBLISHED, PUBLISHED_OTHER


def _fmt(m: float | None, s: float | None = None) -> str:
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "-"
    return f"{m:.2f}" if s is None else f"{m:.2f} ± {s:.2f}"


def _opts(o: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in o.items()) or "defaults"


def published_applies(result: Mapping[str, Any]) -> bool:
    """Published numbers are comparable only for the NB201 CIFAR-10 signal/report columns."""
    from evaluators.tabular import DEFAULT_REPORT, DEFAULT_SIGNAL

    return result["signal"] == DEFAULT_SIGNAL and result["report"] == DEFAULT_REPORT


def format_markdown(result: Mapping[str, Any], command: str | None = None) -> str:
    """The results table; published rows (Dong & Yang, ICLR 2020) beside the measured ones."""
    pub = published_applies(result)
    sig, rep = result["signal"], result["report"]
    head = ["strategy", "options", "runs", "evals (mean)", f"{sig} (mean ± std)", f"{rep} (mean ± std)"]
    head += (["published test (Dong & Yang 2020)"] if pub else []) + ["wall s", "ms / run"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in result["strategies"].items():
        row = [name, _opts(r["options"]), str(r["runs"]), f"{r['evals_mean']:.1f}",
               _fmt(r["signal_mean"], r["signal_std"]), f"**{_fmt(r['report_mean'], r['report_std'])}**"]
        if pub:
            p = PUBLISHED.get(name)
            row.append(f"{p[0]} {_fmt(p[1], p[2])}" if p else "-")
        row += [f"{r['wall_s']:.1f}", f"{r['run_ms']:.0f}"]
        lines.append("| " + " | ".join(row) + " |")
    ref = result["table_reference"]
    n = len(head)
    for label, value in (("table: best signal overall", ref["best_signal_report"]),
                         ("table: optimum", ref["optimum"])):
        lines.append("| " + " | ".join([label, "-", "-", "-", "-", _fmt(value)] + ["-"] * (n - 6)) + " |")
    if pub:
        for method, budget, m, s in PUBLISHED_OTHER:
            cells = [f"published: {method}", f"budget {budget} s", "-", "-", "-", "-", _fmt(m, s)]
            lines.append("| " + " | ".join(cells + ["-"] * (n - len(cells))) + " |")
    text = "\n".join(lines)
    notes = [
        f"Space `{result['space']}`, table `{Path(result['table']).name}`, {result['runs']} runs per strategy "
        f"(seeds {result['seed']}..{result['seed'] + result['runs'] - 1}), simulated time budget "
        f"{result['time_budget']:g} s, cost `{result['cost']}`, {result['workers']} worker process(es).",
        f"Each run reports `{rep}` of its best architecture by `{sig}` (the search signal).",
    ]
    mf = [n for n, r in result["strategies"].items() if "min_epochs" in r["options"]]
    if mf:
        fids = ", ".join(str(f) for f in result.get("fidelities") or []) or "none"
        notes.append(f"Multi-fidelity strategies ({', '.join(mf)}) train to a budget in epochs; the table has only "
                     f"the fidelities {fids} epochs, so their brackets have exactly these rungs. A promotion is "
                     "charged the epochs it adds plus one evaluation; its signal is the higher fidelity's column.")
    if pub:
        notes.append("Published: Dong & Yang 2020, via Mellor et al. 2021 Table 2a, "
                     "12000 s budget unless stated.")
    if command:
        notes.insert(0, f"Command: `{command}`")
    return text + "\n\n" + "\n".join(f"- {x}" for x in notes) + "\n"


def write_outputs(result: Mapping[str, Any], out_dir: str | Path, command: str | None = None) -> list[Path]:
    """Write ``bench.md``, ``bench.json``, ``anytime.csv`` and (with matplotlib) ``anytime.png`` and ``report.html``."""
    import json

    from nas.io import atomic_write_text

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "bench.md", out / "bench.json", out / "anytime.csv"]
    atomic_write_text(written[0], format_markdown(result, command))
    atomic_write_text(written[1], json.dumps(result, indent=1, default=str) + "\n")
    names = list(result["strategies"])
    grid = result["strategies"][names[0]]["curve"]["time"] if names else []
    rows = ["time_s," + ",".join(names)]
    for i, t in enumerate(grid):
        vals = [result["strategies"][n]["curve"]["mean"][i] for n in names]
        rows.append(f"{t:g}," + ",".join("" if v is None else f"{v:.4f}" for v in vals))
    atomic_write_text(written[2], "\n".join(rows) + "\n")
    png = plot_curves(result, out / "anytime.png")
    if png is not None:
        written.append(png)
        from nas.app.report import write_report  # the same curves, with the table, in one HTML page

        written.append(write_report(out))
    return written


def reference_lines(result: Mapping[str, Any]) -> list[tuple[str, float]]:
    """Horizontal reference values of the anytime plot: the table's optimum and best-signal
    architecture, and (for the NB201 CIFAR-10 columns) the published rows of Dong & Yang, ICLR 2020."""
    ref = result.get("table_reference") or {}
    lines = [(f"table optimum {ref['optimum']:.2f}", float(ref["optimum"]))] if ref.get("optimum") is not None else []
    if ref.get("best_signal_report") is not None:
        lines.append((f"best by signal {ref['best_signal_report']:.2f}", float(ref["best_signal_report"])))
    if published_applies(result):
        lines += [(f"published {m} {v:.2f}", v) for m, v, _ in PUBLISHED.values()]
    return lines


def anytime_png(result: Mapping[str, Any], dpi: int = 110) -> bytes | None:
    """PNG of the anytime curves: mean with a ±1 std band per strategy and the reference lines;
    ``None`` without matplotlib. Left: the whole curve (the y-axis holds every plotted value);
    right: the same after 10 % of the budget, where the strategies differ."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(11.5, 4.4))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    refs = reference_lines(result)
    budget = float(result["time_budget"])
    for ax, start in zip(axes, (0.0, 0.1 * budget)):
        ys: list[float] = []
        for n, (name, r) in enumerate(result["strategies"].items()):
            curve = r["curve"]
            std = curve.get("std") or [None] * len(curve["mean"])
            pts = [(t, m, s or 0.0) for t, m, s in zip(curve["time"], curve["mean"], std) if m is not None and t >= start]
            if not pts:
                continue
            ts, ms, ss = [p[0] for p in pts], [p[1] for p in pts], [p[2] for p in pts]
            color = f"C{n % 10}"
            ax.plot(ts, ms, color=color, label=name)
            ax.fill_between(ts, [m - s for m, s in zip(ms, ss)], [m + s for m, s in zip(ms, ss)], color=color,
                            alpha=0.15, lw=0)
            ys += [m - s for m, s in zip(ms, ss)] + [m + s for m, s in zip(ms, ss)]
        for k, (label, v) in enumerate(refs):
            ax.axhline(v, color="#555" if k == 0 else f"C{(k + 4) % 10}", ls="--", lw=0.9, label=label)
            ys.append(v)
        if ys:  # every curve, band and reference line inside the frame
            lo, hi = min(ys), max(ys)
            pad = 0.04 * (hi - lo if hi > lo else 1.0)
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_xlim(start, budget)
        ax.set_xlabel("simulated search time (s)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{result['report']}\nof the best-by-signal so far")
    axes[0].set_title(f"{result['space']}: mean ± std over {result['runs']} runs", fontsize=10)
    axes[1].set_title("after 10 % of the budget", fontsize=10)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def plot_curves(result: Mapping[str, Any], path: Path) -> Path | None:
    """Anytime curves as PNG (:func:`anytime_png`); ``None`` when matplotlib is not installed."""
    png = anytime_png(result)
    if png is None:
        return None
    from nas.io import atomic_write_bytes

    atomic_write_bytes(path, png)
    return path
