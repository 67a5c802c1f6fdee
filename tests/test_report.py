"""The HTML run report: content from a real run, and a real headless Chromium that loads it.

The browser tests need Debian's ``chromium`` (``.ci/run`` installs it); without it they are
skipped with the reason. Console errors are read from Chromium's ``--enable-logging=stderr``
output; a page with a deliberate script error checks that this detection works.
"""
from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import nas
from nas.app.report import best_so_far, pareto_front, write_report

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)")
TOY = dict(space="toy", evaluator="toy", strategy="evolution", strategy_options={"population": 4, "sample_size": 2},
           max_concurrent=1, seed=3)


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> Path:
    import tests.toy_plugin  # noqa: F401

    runs = tmp_path_factory.mktemp("runs")
    run = nas.search(**TOY, budget=8, evaluator_options={"fail_every": 4}, runs_dir=str(runs), name="r",
                     progress=False)
    # per-epoch history as an evaluator may journal it (under the record's report)
    lines = (run.path / "trials.jsonl").read_text().splitlines()
    rec = json.loads(lines[0])
    rec["report"] = {"history": [{"epoch": e, "train_loss": 2.0 / e, "val_acc": 50 + 10 * e} for e in (1, 2, 3)]}
    (run.path / "trials.jsonl").write_text("\n".join([json.dumps(rec)] + lines[1:]) + "\n")
    return run.path


def chromium(url: str, *extra: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--enable-logging=stderr", "--v=0", *extra, url],
                          capture_output=True, text=True, timeout=timeout)


def console_errors(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if "CONSOLE" in ln and re.search(r"Uncaught|Error", ln)]


def test_pareto_front_and_best_so_far():
    assert pareto_front([(3, 90), (1, 80), (2, 85), (2, 70), (4, 89), (5, 95)]) == [(1, 80), (2, 85), (3, 90), (5, 95)]
    nan = float("nan")
    out = best_so_far([nan, 3.0, 1.0, nan, 5.0])
    assert out[0] != out[0] and out[1:] == [3.0, 3.0, 3.0, 5.0]


def test_the_report_is_self_contained_and_shows_the_run(toy_run):
    html = (toy_run / "report.html").read_text()  # written at the end of the search
    write_report(toy_run)
    html = (toy_run / "report.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing from the network
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) >= 3  # best so far, cost trade-off, training curves (+ cells where drawable)
    assert all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images)
    table = html[html.index('id="trials"'):]
    rows = re.findall(r"<tr(?: class=\"failed\")?><td", table)
    assert len(rows) == 8 and table.count('<tr class="failed">') == 2
    assert "training curves" in html and "Pareto front" in html


def test_nas_report_cli_writes_elsewhere_and_refuses_a_non_run(toy_run, tmp_path):
    from nas.app.cli import main

    out = tmp_path / "r.html"
    assert main(["report", str(toy_run), "--out", str(out)]) == 0 and out.stat().st_size > 1000
    assert main(["report", str(tmp_path / "missing")]) == 2


@needs_chromium
def test_the_report_loads_in_chromium_without_console_errors_and_sorts(toy_run, tmp_path):
    page = tmp_path / "page.html"
    # the page's own script sorts the table by val_acc (descending) when asked through the URL hash
    html = (toy_run / "report.html").read_text().replace(
        "</body>", "<script>document.addEventListener('DOMContentLoaded',function(){var t=document.getElementById"
        "('trials');var i=Array.prototype.findIndex.call(t.tHead.rows[0].cells,function(h){return h.textContent"
        "==='val_acc'});nasSort(t,i,-1);document.title='first:'+t.tBodies[0].rows[0].cells[0].textContent;});"
        "</script></body>")
    page.write_text(html)
    r = chromium(page.as_uri(), "--dump-dom")
    assert r.returncode == 0, r.stderr[-2000:]
    assert not console_errors(r.stderr), console_errors(r.stderr)
    assert 'data-ready="1"' in r.stdout
    best = nas.load_run(toy_run).best(1)[0]["id"]
    assert f"<title>first:{best}</title>" in r.stdout
    shot = tmp_path / "shot.png"
    r = chromium(page.as_uri(), f"--screenshot={shot}", "--window-size=1280,2400")
    assert r.returncode == 0 and shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 50_000


@needs_chromium
def test_the_console_error_detection_sees_a_script_error(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>")
    r = chromium(bad.as_uri(), "--dump-dom")
    assert console_errors(r.stderr), r.stderr[-2000:]


def test_bench_output_gets_a_report_with_bands_and_reference_lines(tmp_path):
    from nas.app.bench import BenchConfig, run_bench
    from nas.app.bench_report import anytime_png, reference_lines, write_outputs

    result = run_bench(BenchConfig(strategies=("random",), runs=3, time_budget=3000, workers=1))
    curve = result["strategies"]["random"]["curve"]
    assert len(curve["std"]) == len(curve["mean"]) and any(s and s > 0 for s in curve["std"])
    labels = [label for label, _ in reference_lines(result)]
    assert any(label.startswith("table optimum") for label in labels) and any("REA" in la for la in labels)
    written = write_outputs(result, tmp_path)
    assert tmp_path / "report.html" in written and (tmp_path / "anytime.png").read_bytes() == anytime_png(result)
    html = (tmp_path / "report.html").read_text()
    assert "data:image/png;base64," in html and "published" in html
