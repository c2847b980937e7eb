"""Tests for nngrid.report (captions follow the data) and for the report of a real quick run:
figures regenerate without retraining, and the HTML report renders in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
from local_env import local_env
from synthetic_tables import synthetic_tables

from nngrid import report as R

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


# ----------------------------------------------------------------------------- captions


def test_heatmap_caption_follows_the_table():
    before = R.heatmap_caption(synthetic_tables()["summary"])
    assert "best relu + adam" in before
    after = R.heatmap_caption(synthetic_tables(boost={"sgd": 0.3})["summary"])
    assert "best relu + sgd" in after
    best = synthetic_tables(boost={"sgd": 0.3})["summary"]
    best = best[(best["arm"] == "tuned") & (best["dataset"] == "moons")]
    assert f"{best['test_accuracy_mean'].max():.3g}" in after


def test_time_to_target_caption_names_the_fewest_steps_never_seconds():
    default = R.time_to_target_caption(synthetic_tables()["runs"])
    assert "moons: fewest steps adam" in default and "circles: fewest steps adam" in default
    sgd_first = R.time_to_target_caption(
        synthetic_tables(boost={"sgd": 0.2}, speed={"sgd": 1})["runs"]
    )
    assert "moons: fewest steps sgd" in sgd_first
    # seconds play no part: scrambling them changes nothing
    runs = synthetic_tables()["runs"].copy()
    runs["seconds_to_target"] = runs["seconds_to_target"].sample(frac=1, random_state=0).values
    assert R.time_to_target_caption(runs) == default


def test_tuning_rankings_gap_and_lr_captions_carry_numbers():
    t = synthetic_tables()
    tuning = R.tuning_caption(t["summary"])
    gain = t["summary"].pivot_table(
        index=["dataset", "activation", "regularizer", "optimizer"],
        columns="arm",
        values="test_accuracy_mean",
    )
    median = (gain["tuned"] - gain["untuned"]).groupby("optimizer").median()
    assert f"adam: median gain {median['adam']:.2g}" in tuning
    assert "adam has the best mean rank 1" in R.rankings_caption(t["rankings"])
    assert "smallest gap l2" in R.gap_caption(t["runs"])
    lr = R.lr_caption(t["runs"])
    assert "sgd:" in lr and "4 diverged tuning runs" in lr
    assert "8 cells chose a rate on the grid's edge" in lr


def test_experiment_captions_carry_the_measured_numbers():
    records = [
        {"dataset": "xor", "activation": "identity", "test_accuracy": 0.5},
        {"dataset": "xor", "activation": "step", "test_accuracy": 0.6},
        {"dataset": "xor", "activation": "relu", "test_accuracy": 0.96},
    ]
    text = R.nonlinearity_caption(records)
    assert "identity 0.5 vs relu 0.96" in text and "step 0.6" in text
    sweep = [
        {"n_train": n, "seed": 0, "train_loss": 0.1, "test_loss": 0.1 + g, "gap": g}
        for n, g in {10: 0.3, 100: 0.01}.items()
    ]
    text = R.data_size_caption(sweep)
    assert "10 points: train 0.1, test 0.4, gap 0.3" in text


def test_overfitting_caption_detects_rising_test_loss():
    def curve(test):
        return [
            {"cure": "none", "epoch": e, "train_loss": 1.0 / (1 + e), "test_loss": v}
            for e, v in enumerate(test)
        ]

    assert "overfits" in R.overfitting_caption(curve([1.0, 0.2, 0.5, 0.9]))
    assert "did not rise" in R.overfitting_caption(curve([1.0, 0.5, 0.3, 0.2]))


def test_captions_state_the_verdicts_of_claims_csv_and_never_decide_them():
    from nngrid.claims import claims_table

    claims = claims_table({})
    claims.loc[claims["claim_id"] == "more_data", ["verdict", "value", "ci_low", "ci_high"]] = [
        "contradicted", 0.4, 0.2, 0.6
    ]  # fmt: skip
    text = R.verdicts_text(claims, "fig05_data_size")
    assert "Verdict: **contradicted**" in text and "95% CI 0.2 to 0.6" in text
    assert "the lesson predicts < 0" in text
    assert R.verdicts_text(claims, "fig08_optimizer_paths") == ""
    assert "Contrary to the lesson" not in Path(R.__file__).read_text()


# ----------------------------------------------------------------------------- a quick run


def _copy_tree(dest: Path) -> None:
    """The repository's files (tracked and untracked, not ignored) copied to ``dest``."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file() and not name.startswith(("results/", "bench/")):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def _snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = local_env(PYTHONPATH=str(workdir / "src"))
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "--configfile", "config/quick.yaml", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def quick_run():
    """The quick study run in a temporary copy (its own `src` first on PYTHONPATH), with the
    report built. ``NNGRID_QUICK_RUN=<folder>`` reuses a finished copy."""
    if os.environ.get("NNGRID_QUICK_RUN"):
        yield Path(os.environ["NNGRID_QUICK_RUN"])
        return
    snakefile = (ROOT / "Snakefile").read_text()
    missing = [f for f in ("experiments.smk", "figures.smk", "report.smk") if f not in snakefile]
    assert not missing, f"the Snakefile must include workflow/rules/{missing}"
    with tempfile.TemporaryDirectory(prefix="nngrid-quick-") as tmp:
        work = Path(tmp)
        _copy_tree(work)
        run = _snakemake(work, "--cores", "2")
        assert run.returncode == 0, run.stderr[-3000:]
        rep = _snakemake(work, "--report", "results/report.html")
        assert rep.returncode == 0, rep.stderr[-3000:]
        yield work


def _planned_rules(work: Path) -> set[str]:
    dry = _snakemake(work, "--cores", "2", "--dry-run")
    assert dry.returncode == 0, dry.stderr[-3000:]
    return set(re.findall(r"^(?:local)?rule (\w+):", dry.stdout + dry.stderr, re.M))


@pytest.mark.slow
def test_changing_a_plotting_function_reruns_figure_jobs_only(quick_run, tmp_path):
    work = tmp_path / "copy"
    shutil.copytree(quick_run, work, symlinks=True)
    assert _planned_rules(work) == set()
    module = work / "src" / "nngrid" / "figures" / "activations.py"
    module.write_text(module.read_text().replace('"x", ""', '"x", "f"'))
    planned = _planned_rules(work)
    assert "figure_activations" in planned
    # only figure jobs (and the claims table built from their captions) may rerun
    assert planned <= {r for r in planned if r.startswith("figure_")} | {"claims", "all"}
    assert not planned & {"train", "experiment", "tables", "dataset"}


def _cdp_page(port_file: Path):
    import websocket  # websocket-client (test extra)

    for _ in range(400):
        if port_file.exists() and port_file.read_text().strip():
            break
        time.sleep(0.05)
    port = int(port_file.read_text().split()[0])
    for _ in range(100):
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
        pages = [t for t in targets if t["type"] == "page"]
        if pages:
            break
        time.sleep(0.05)
    return websocket.create_connection(
        pages[0]["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
    )


class DevTools:
    """The few Chrome DevTools Protocol calls the test needs, with every event kept."""

    def __init__(self, ws):
        self.ws, self.next_id, self.events = ws, 0, []

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def js(self, expression: str):
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {expression}")


_CLICK = """(() => {{
  const a = Array.from(document.querySelectorAll('a')).find(e => e.innerText.trim() == {text});
  if (!a) return false; a.click(); return true; }})()"""
_ROWS = "document.querySelectorAll('table tbody tr a[iconname=eye]').length"
_SHOWN = """(() => {{
  const img = Array.from(document.querySelectorAll('img'))
    .find(i => i.src.includes('filename=' + {name} + ';'));
  return img && img.complete && img.naturalWidth > 0 ? img.naturalWidth : 0; }})()"""


@pytest.mark.browser
def test_report_renders_every_image_in_chromium(quick_run, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    html = quick_run / "results" / "report.html"
    profile = tmp_path / "profile"
    proc = subprocess.Popen(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--window-size=1400,1000",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        page = DevTools(_cdp_page(profile / "DevToolsActivePort"))
        for domain in ("Runtime", "Page", "Log"):
            page.call(f"{domain}.enable")
        page.call("Page.navigate", url=html.as_uri())
        page.wait_for("typeof results === 'object' && document.querySelector('#app a') !== null")
        results = page.js(
            "JSON.stringify(Object.values(results).map(r => [r.filename, r.mime_type]))"
        )
        images = sorted(f for f, mime in json.loads(results) if mime.startswith("image/"))
        expected = {Path(p).name for p in (quick_run / "results" / "figures").glob("*.png")}
        assert set(images) == expected and len(images) >= 17
        categories = page.js("JSON.stringify(Object.keys(categories))")
        shown = {}
        for category in json.loads(categories):
            page.call("Page.navigate", url=html.as_uri())
            page.wait_for("document.querySelector('#app a') !== null")
            assert page.js(_CLICK.format(text=json.dumps(category))), category
            rows = page.wait_for(_ROWS)
            for i in range(rows):
                page.js(f"document.querySelectorAll('table tbody tr a[iconname=eye]')[{i}].click()")
                time.sleep(0.3)
                for name in images:
                    if name not in shown and page.js(_SHOWN.format(name=json.dumps(name))):
                        shown[name] = True
                assert page.js(_CLICK.format(text=json.dumps(category)))
                page.wait_for(_ROWS)
        assert sorted(shown) == images, f"never displayed: {set(images) - set(shown)}"
        shot = page.call("Page.captureScreenshot", format="png")["data"]
        import base64

        png = base64.b64decode(shot)
        (tmp_path / "report.png").write_bytes(png)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
        errors = [e for e in page.events if e.get("method") == "Runtime.exceptionThrown"]
        errors += [
            e
            for e in page.events
            if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"
        ]
        errors += [
            e
            for e in page.events
            if e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error"
        ]
        assert not errors, json.dumps(errors)[:2000]
        page.ws.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_report_rule_files_are_consistent():
    """Every caption description the figure rules name exists, and every figure stem has one."""
    rules = (ROOT / "workflow" / "rules" / "figures.smk").read_text()
    named = set(re.findall(r'"workflow/report/([\w.]+)"', rules))
    assert named, "no descriptions named in figures.smk"
    for name in named:
        assert (ROOT / "workflow" / "report" / name).is_file(), name
    stems = set(re.findall(r'"results/figures/(fig\d\d_\w+)\.png"', rules))
    assert stems == {Path(n).stem for n in named}
    from nngrid.claims import CLAIMS

    assert {c.figure for c in CLAIMS} <= stems  # every claim's figure is drawn
