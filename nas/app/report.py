"""``nas report``: one self-contained HTML page about a run (or a ``nas bench`` output folder).

The page has no external resource at all: styles and a small sort script are inline, plots are
PNG images (matplotlib's Agg canvas, object-oriented API) embedded as ``data:`` URIs. A search
writes ``RUN/report.html`` when it ends (:func:`nas.app.launch.finish_run`); ``nas report RUN``
rewrites it, e.g. while a search runs. Sections:

* best-so-far objective against trials and against wall time (the anytime view of
  Dong & Yang, ICLR 2020, §5);
* val_acc against MACs and against parameters, with the Pareto front (the accuracy/cost
  trade-off of Tan et al., CVPR 2019, §3);
* drawings of the top-k cells (:func:`nas.app.draw.draw_arch`);
* the trial table, sortable by any column (click a header);
* per-trial training curves, for trials whose journal record has a per-epoch ``history``;
* for a ``nas bench`` folder (``bench.json``): the anytime curves with ±1 std bands and the
  published rows as reference lines (:func:`nas.app.bench_report.anytime_png`).

Everything is read from the run directory without a lock; text from the journal is HTML-escaped.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

from nas.errors import ConfigError

REPORT = "report.html"
TOP_CELLS = 3  # drawings of the best architectures
MAX_CURVES = 6  # per-trial training curves shown

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em auto;max-width:1200px;
color:#222;padding:0 1em}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
img{max-width:100%;height:auto}.grid{display:flex;flex-wrap:wrap;gap:1em}.grid>figure{margin:0;flex:0 1 560px}
table{border-collapse:collapse;font-size:0.85em}th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
th{cursor:pointer;background:#f4f4f4;position:sticky;top:0;user-select:none}th.asc::after{content:" \\25B2"}
th.desc::after{content:" \\25BC"}td.t,th.t{text-align:left}tr.failed td{color:#a33}.meta td{text-align:left}
.note{color:#666;font-size:0.85em}
"""

#: sorts a table by the clicked column; numbers numerically (data-v holds the raw value), text otherwise
_SCRIPT = """
function nasSort(table, col, dir) {
  var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
  var key = function (r) { var c = r.cells[col], v = c.getAttribute('data-v');
    if (v !== null && v !== '' && !isNaN(parseFloat(v))) return parseFloat(v);
    return v === '' ? null : c.textContent; };
  rows.sort(function (a, b) { var x = key(a), y = key(b);
    if (x === null) return 1; if (y === null) return -1;
    if (typeof x === 'number' && typeof y === 'number') return dir * (x - y);
    return dir * String(x).localeCompare(String(y)); });
  rows.forEach(function (r) { body.appendChild(r); });
  Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h, i) {
    h.className = (h.className.replace(/ ?(asc|desc)/g, '')) + (i === col ? (dir > 0 ? ' asc' : ' desc') : ''); });
}
document.addEventListener('DOMContentLoaded', function () {
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h, i) {
      h.addEventListener('click', function () { nasSort(table, i, h.className.indexOf('desc') >= 0 ? 1 : -1); });
    });
  });
  document.body.setAttribute('data-ready', '1');
});
"""


# -- plotting helpers ------------------------------------------------------------------------------
def _figure(w: float, h: float, ncols: int = 1) -> tuple[Any, Any]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("the report needs matplotlib, which is not installed (python -m pip install matplotlib)") from None
    fig = Figure(figsize=(w, h))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(1, ncols, squeeze=False)[0]


def png_bytes(fig: Any, dpi: int = 100) -> bytes:
    """A matplotlib figure as PNG bytes."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def pareto_front(points: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """The non-dominated ``(cost, value)`` points (lower cost, higher value), by increasing cost."""
    front: list[tuple[float, float]] = []
    for c, v in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or v > front[-1][1]:
            front.append((c, v))
    return front


def best_so_far(values: Sequence[float]) -> list[float]:
    """Running maximum, NaN until the first finite value."""
    out, best = [], -math.inf
    for v in values:
        if v is not None and math.isfinite(v):
            best = max(best, v)
        out.append(best if best > -math.inf else math.nan)
    return out


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# -- the sections of a run report -------------------------------------------------------------------
def _anytime(trials: list[dict[str, Any]], scores: Mapping[str, float], label: str) -> str:
    fig, (a, b) = _figure(11, 3.6, 2)
    vals = [scores.get(str(t.get("id")), math.nan) for t in trials]
    best = best_so_far(vals)
    n = list(range(1, len(trials) + 1))
    t0 = min((t["started"] for t in trials if _finite(t.get("started"))), default=None)
    times = [(t["finished"] - t0) if t0 is not None and _finite(t.get("finished")) else math.nan for t in trials]
    for ax, xs, xlabel in ((a, n, "trials finished"), (b, times, "wall time since the first trial (s)")):
        ax.plot(xs, vals, "o", ms=3, alpha=0.45, color="#888", label="trial")
        ax.step(xs, best, where="post", color="#1f77b4", lw=2, label="best so far")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    a.legend(loc="lower right")
    return _img(png_bytes(fig), "best so far against trials and time")


def _tradeoff(trials: list[dict[str, Any]]) -> str | None:
    ok = [t for t in trials if t.get("status") == "ok" and _finite((t.get("metrics") or {}).get("val_acc"))]
    if not ok:
        return None
    fig, axes = _figure(11, 3.8, 2)
    for ax, cost in zip(axes, ("macs", "params")):
        pts = [(float(t["metrics"][cost]), float(t["metrics"]["val_acc"])) for t in ok
               if _finite(t["metrics"].get(cost)) and t["metrics"][cost] > 0]
        if not pts:
            ax.text(0.5, 0.5, f"no {cost} measured", ha="center", transform=ax.transAxes)
            continue
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, alpha=0.6, color="#888", label="trial")
        front = pareto_front(pts)
        ax.step([p[0] for p in front], [p[1] for p in front], where="post", color="#d62728", lw=1.5)
        ax.plot([p[0] for p in front], [p[1] for p in front], "o", color="#d62728", ms=5, label="Pareto front")
        if max(p[0] for p in pts) > 20 * min(p[0] for p in pts):  # log only over a wide range
            ax.set_xscale("log")
        else:
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        ax.set_xlabel(cost + (" per image (conv + linear)" if cost == "macs" else ""))
        ax.set_ylabel("val_acc (%)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(loc="lower right")
    return _img(png_bytes(fig), "val_acc against MACs and parameters")


def _history(rec: Mapping[str, Any]) -> list[dict[str, Any]]:
    for where in ("report", "metrics", "info"):
        h = (rec.get(where) or {}).get("history")
        if isinstance(h, list) and h and all(isinstance(r, Mapping) for r in h):
            return [dict(r) for r in h]
    return []


def _curves(trials: list[dict[str, Any]]) -> str | None:
    shown = [(t, h) for t in trials if (h := _history(t))][:MAX_CURVES]
    if not shown:
        return None
    fig, (a, b) = _figure(11, 3.6, 2)
    for t, h in shown:
        ep = [r.get("epoch", i + 1) for i, r in enumerate(h)]
        tid = str(t.get("id"))
        for ax, col in ((a, "train_loss"), (b, "val_acc")):
            ys = [r.get(col) for r in h]
            if any(_finite(y) for y in ys):
                ax.plot(ep, [y if _finite(y) else math.nan for y in ys], marker="o", ms=3, label=tid)
    for ax, ylabel in ((a, "train loss"), (b, "val_acc (%)")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return _img(png_bytes(fig), "training curves")


def _cells(best: list[tuple[float, dict[str, Any]]]) -> list[str]:
    from nas.app.draw import draw_arch
    from nas.types import trial_arch

    out = []
    for rank, (score, rec) in enumerate(best[:TOP_CELLS], start=1):
        arch = trial_arch(rec)
        if arch is None:
            continue
        try:
            png = draw_arch(arch, title=f"#{rank} {rec.get('id')} (score {score:.2f})", dpi=80)
        except ConfigError as e:  # e.g. a drawing too large to raster: say so, keep the rest
            out.append(f'<p class="note">{html.escape(str(e))}</p>')
            continue
        alt = f"cell of trial {rec.get('id')}"
        out.append(f"<figure>{_img(png, alt)}</figure>")
    return out


_COLUMNS = (("id", "t"), ("state", "t"), ("value", ""), ("key", "t"), ("metrics_val_acc", ""),
            ("metrics_params", ""), ("metrics_macs", ""), ("metrics_latency_ms", ""), ("metrics_train_seconds", ""),
            ("origin", "t"), ("parent", "t"), ("error", "t"))


def _cell(v: Any, cls: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return f'<td class="{cls}" data-v=""></td>'
    if isinstance(v, float):
        shown = f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
        return f'<td class="{cls}" data-v="{v!r}">{shown}</td>'
    if isinstance(v, int) and not isinstance(v, bool):
        return f'<td class="{cls}" data-v="{v}">{v:,}</td>'
    text = str(v)
    text = text if len(text) <= 160 else text[:157] + "..."
    return f'<td class="{cls}" data-v="{html.escape(text, quote=True)}">{html.escape(text)}</td>'


def _table(df: Any) -> str:
    cols = [(c, k) for c, k in _COLUMNS if c in df.columns]
    cols += [(c, "") for c in df.columns if c.startswith(("metrics_", "report_")) and c not in dict(cols)]
    head = "".join(f'<th class="{k}">{html.escape(c.removeprefix("metrics_"))}</th>' for c, k in cols)
    rows = []
    for rec in df.to_dict("records"):
        cls = "" if rec.get("state") == "ok" else ' class="failed"'
        rows.append(f"<tr{cls}>" + "".join(_cell(rec.get(c), k) for c, k in cols) + "</tr>")
    return (f'<table class="sortable" id="trials"><thead><tr>{head}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table>")


def _page(title: str, body: list[str]) -> str:
    t = html.escape(title)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{t}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<style>{_STYLE}</style></head><body>\n<h1>{t}</h1>\n" + "\n".join(body)
            + f"\n<script>{_SCRIPT}</script>\n</body></html>\n")


def run_report_html(run_dir: str | Path) -> str:
    """The HTML page of the run at ``run_dir``."""
    from nas.app.export import rank_trials
    from nas.app.rundir import TRIALS, read_records
    from nas.app.runview import trials_dataframe

    path = Path(run_dir)
    trials = read_records(path / TRIALS)
    config, ranked = rank_trials(path, trials)  # reads and checks run.yaml
    scores = {str(rec["id"]): s for s, rec in ranked}
    counts = {s: sum(1 for t in trials if t.get("status") == s) for s in ("ok", "failed", "timeout")}
    meta = {"space": config.get("space"), "strategy": config.get("strategy"),
            "strategy options": json.dumps(config.get("strategy_options") or {}),
            "objective": config.get("objective"), "dataset": config.get("dataset"),
            "budget": config.get("budget"), "time budget (s)": config.get("time_budget"),
            "trials": f"{len(trials)} ({counts['ok']} ok, {counts['failed']} failed, {counts['timeout']} timeout)"}
    if ranked:
        meta["best"] = f"{ranked[0][1].get('id')} (score {ranked[0][0]:.4g})"
    body = ['<table class="meta">' + "".join(f"<tr><td><b>{html.escape(k)}</b></td><td>{html.escape(str(v))}</td></tr>"
                                             for k, v in meta.items()) + "</table>"]
    if not trials:
        body.append('<p class="note">No trial has finished yet.</p>')
        return _page(f"nas report: {path.name}", body)
    label = "val_acc (%)" if config.get("objective") in (None, "accuracy", "pareto") else \
        f"objective score ({config.get('objective')})"
    body += ["<h2>Best so far</h2>", _anytime(trials, scores, label)]
    trade = _tradeoff(trials)
    if trade:
        body += ["<h2>Accuracy against cost</h2>",
                 '<p class="note">Red: the Pareto front (no other trial is both cheaper and more accurate).</p>',
                 trade]
    cells = _cells(ranked)
    if cells:
        body += [f"<h2>Top {len(cells)} architectures</h2>", '<div class="grid">' + "".join(cells) + "</div>"]
    curves = _curves([rec for _, rec in ranked] + [t for t in trials if str(t.get("id")) not in scores])
    body.append("<h2>Training curves</h2>")
    body.append(curves or '<p class="note">The journal holds no per-epoch history for these trials.</p>')
    body += ["<h2>Trials</h2>", '<p class="note">Click a column header to sort.</p>', _table(trials_dataframe(path, trials))]
    return _page(f"nas report: {path.name}", body)


def bench_report_html(out_dir: str | Path) -> str:
    """The HTML page of a ``nas bench`` folder: its ``anytime.png`` (curves with ±1 std bands and
    reference lines, :func:`nas.app.bench_report.anytime_png`) and its ``bench.md`` table."""
    from nas.limits import read_text

    path = Path(out_dir)
    try:
        result = json.loads(read_text(path / "bench.json"))
        table = read_text(path / "bench.md")
    except (ValueError, FileNotFoundError) as e:
        raise ConfigError(f"{path}: not a nas bench output folder ({e})") from None
    if not isinstance(result, Mapping) or not isinstance(result.get("strategies"), Mapping):
        raise ConfigError(f"{path / 'bench.json'}: not a nas bench result")
    png = path / "anytime.png"
    plot = _img(png.read_bytes(), "anytime curves") if png.is_file() else \
        '<p class="note">anytime.png is missing (nas bench writes it when matplotlib is installed).</p>'
    body = ["<h2>Anytime curves</h2>", plot,
            '<p class="note">Mean over runs with a ±1 std band; dashed: the table optimum and published rows '
            "(Dong &amp; Yang, ICLR 2020).</p>", "<h2>Results</h2>", f"<pre>{html.escape(table)}</pre>"]
    return _page(f"nas bench report: {result.get('space')}", body)


def write_report(path: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of a run directory or a ``nas bench`` folder; returns the file written."""
    from nas.io import atomic_write_text

    src = Path(path)
    text = bench_report_html(src) if (src / "bench.json").is_file() and not (src / "run.yaml").exists() \
        else run_report_html(src)
    dest = src / REPORT if out is None else Path(out)
    atomic_write_text(dest, text)
    return dest


__all__ = ["REPORT", "best_so_far", "bench_report_html", "pareto_front", "png_bytes", "run_report_html",
           "write_report"]
