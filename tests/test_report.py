"""Tests for nngrid.study.report (captions follow the data) and for the report of a real quick run:
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
from html import unescape
from pathlib import Path

import pandas as pd
import pytest
from local_env import local_env
from synthetic_tables import synthetic_tables

from nngrid.errors import NngridError
from nngrid.study.report import (
    captions,
    experiment_captions,
    grid_captions,
    landing,
    verdict_table,
)

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


# ----------------------------------------------------------------------------- captions


def test_heatmap_caption_follows_the_table():
    before = grid_captions.heatmap_caption(synthetic_tables()["summary"])
    assert "best relu + adam" in before
    after = grid_captions.heatmap_caption(synthetic_tables(boost={"sgd": 0.3})["summary"])
    assert "best relu + sgd" in after
    best = synthetic_tables(boost={"sgd": 0.3})["summary"]
    best = best[(best["arm"] == "tuned") & (best["dataset"] == "moons")]
    assert f"{best['test_accuracy_mean'].max():.3g}" in after


def test_time_to_target_caption_names_the_fewest_steps_never_seconds():
    default = grid_captions.time_to_target_caption(synthetic_tables()["runs"])
    assert "moons: fewest steps adam" in default and "circles: fewest steps adam" in default
    sgd_first = grid_captions.time_to_target_caption(
        synthetic_tables(boost={"sgd": 0.2}, speed={"sgd": 1})["runs"]
    )
    assert "moons: fewest steps sgd" in sgd_first
    # seconds play no part: scrambling them changes nothing
    runs = synthetic_tables()["runs"].copy()
    runs["seconds_to_target"] = runs["seconds_to_target"].sample(frac=1, random_state=0).values
    assert grid_captions.time_to_target_caption(runs) == default


def test_tuning_rankings_gap_and_lr_captions_carry_numbers():
    t = synthetic_tables()
    tuning = grid_captions.tuning_caption(t["summary"])
    gain = t["summary"].pivot_table(
        index=["dataset", "activation", "regularizer", "optimizer"],
        columns="arm",
        values="test_accuracy_mean",
    )
    median = (gain["tuned"] - gain["untuned"]).groupby("optimizer").median()
    assert f"adam: median gain {median['adam']:.2g}" in tuning
    assert "adam has the best mean rank 1" in grid_captions.rankings_caption(t["rankings"])
    assert "smallest gap l2" in grid_captions.gap_caption(t["runs"])
    lr = grid_captions.lr_caption(t["runs"])
    assert "sgd:" in lr and "4 diverged tuning runs" in lr
    assert "8 cells chose a rate on the grid's edge" in lr


def test_experiment_captions_carry_the_measured_numbers():
    records = [
        {"dataset": "xor", "activation": "identity", "test_accuracy": 0.5},
        {"dataset": "xor", "activation": "step", "test_accuracy": 0.6},
        {"dataset": "xor", "activation": "relu", "test_accuracy": 0.96},
    ]
    text = experiment_captions.nonlinearity_caption(records)
    assert "identity 0.5 vs relu 0.96" in text and "step 0.6" in text
    sweep = [
        {"n_train": n, "seed": 0, "train_loss": 0.1, "test_loss": 0.1 + g, "gap": g}
        for n, g in {10: 0.3, 100: 0.01}.items()
    ]
    text = experiment_captions.data_size_caption(sweep)
    assert "10 points: train 0.1, test 0.4, gap 0.3" in text


def test_overfitting_caption_detects_rising_test_loss():
    def curve(test):
        return [
            {"cure": "none", "epoch": e, "train_loss": 1.0 / (1 + e), "test_loss": v}
            for e, v in enumerate(test)
        ]

    assert "overfits" in experiment_captions.overfitting_caption(curve([1.0, 0.2, 0.5, 0.9]))
    assert "did not rise" in experiment_captions.overfitting_caption(curve([1.0, 0.5, 0.3, 0.2]))


def test_captions_state_the_verdicts_of_claims_csv_and_never_decide_them():
    from nngrid.study.claims import claims_table

    claims = claims_table({})
    claims.loc[claims["claim_id"] == "more_data", ["verdict", "value", "ci_low", "ci_high"]] = [
        "contradicted", 0.4, 0.2, 0.6
    ]  # fmt: skip
    text = captions.verdicts_text(claims, "fig05_data_size")
    assert "Verdict: **contradicted**" in text and "95% CI 0.2 to 0.6" in text
    assert "the claim predicts < 0" in text
    assert captions.verdicts_text(claims, "fig08_optimizer_paths") == ""
    for module in Path(captions.__file__).parent.glob("*.py"):  # no verdict written in advance
        assert "Contrary to the lesson" not in module.read_text(), module


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
        (work / "snakemake.out").write_text(run.stdout + run.stderr)
        rep = _snakemake(work, "--report", "results/report.html")
        assert rep.returncode == 0, rep.stderr[-3000:]
        yield work


@pytest.mark.slow
def test_the_terminal_shows_each_finished_cell_and_no_empty_shell_commands(quick_run):
    """Each training job's progress lines reach the terminal, prefixed with the job, and its
    log; no "Shell command: None" (printshellcmds is off: Snakemake printed it per script job)."""
    out = (quick_run / "snakemake.out").read_text()
    assert "Shell command: None" not in out
    for log in (quick_run / "logs" / "train").rglob("*.log"):
        job = "/".join(log.relative_to(quick_run / "logs" / "train").with_suffix("").parts)
        lines = [line for line in log.read_text().splitlines() if line.strip()]
        assert lines, f"{log} is empty"
        for line in lines:
            assert f"{job}: {line}" in out, (job, line)


def test_training_commands_are_one_short_line_without_json():
    env = local_env(
        PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])
    )
    dry = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "-n",
            "-p",
            "--forceall",
            "--configfile",
            "config/quick.yaml",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert dry.returncode == 0, dry.stderr[-2000:]
    out = (dry.stdout + dry.stderr).splitlines()
    commands = [
        c for c in out if "nngrid.study.protocol" in c or "nngrid.study.experiments.arch" in c
    ]
    trainings = sum(1 for c in commands if "nngrid.study.protocol" in c)
    assert trainings == len(re.findall(r"^rule train:$", "\n".join(out), re.M))
    assert trainings > 1 and len(commands) > trainings  # the grid's and the architectures' jobs
    for cmd in commands:
        if "--merge" in cmd:
            continue
        # one line a user can rerun by hand (its spec file and the first 16 hex digits of the
        # spec's digest, which the job checks the file against; never the spec's JSON)
        assert "{" not in cmd and "--spec results/specs/" in cmd and len(cmd) < 450, cmd
        assert re.search(r"--spec-sha256 [0-9a-f]{16} ", cmd), cmd


def _planned_rules(work: Path) -> set[str]:
    dry = _snakemake(work, "--cores", "2", "--dry-run")
    assert dry.returncode == 0, dry.stderr[-3000:]
    return set(re.findall(r"^(?:local)?rule (\w+):", dry.stdout + dry.stderr, re.M))


@pytest.mark.slow
def test_changing_a_plotting_function_reruns_figure_jobs_only(quick_run, tmp_path):
    work = tmp_path / "copy"
    shutil.copytree(quick_run, work, symlinks=True)
    assert _planned_rules(work) == set()
    module = work / "src" / "nngrid" / "study" / "figures" / "activations.py"
    module.write_text(module.read_text() + "\n# a changed plotting function\n")
    planned = _planned_rules(work)
    assert "figure_activations" in planned
    # only figure jobs (and the claims table and landing page built from their captions) may rerun
    assert planned <= {r for r in planned if r.startswith("figure_")} | {"claims", "landing", "all"}
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
# The landing page's claims table: rows actually laid out (visible), with a verdict each.
_CLAIM_ROWS = """JSON.stringify(Array.from(document.querySelectorAll('tr.nngrid-claim'))
  .filter(r => r.offsetHeight > 0)
  .map(r => [r.dataset.verdict, r.querySelector('.nngrid-verdict').innerText.trim()]))"""
# The figure view: the image shown, decoded, and not blank (a share of non-white pixels).
_FIGURE_SHOWN = """(() => {{
  const img = Array.from(document.querySelectorAll('img'))
    .find(i => i.src === results[{path}].data_uri);
  if (!img || !img.complete || img.naturalWidth === 0) return 0;
  const c = document.createElement('canvas');
  c.width = 200; c.height = Math.max(1, Math.round(200 * img.naturalHeight / img.naturalWidth));
  const g = c.getContext('2d'); g.drawImage(img, 0, 0, c.width, c.height);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  let ink = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] < 600) ink++;
  return ink / (c.width * c.height) + 1e-9; }})()"""
# The caption beside the figure: the result's caption rendered in the menu.
_CAPTION_SHOWN = """(() => {{
  const text = document.body.innerText;
  const div = document.createElement('div'); div.innerHTML = results[{path}].caption;
  const first = div.innerText.trim().split('\\n')[0].slice(0, 60);
  return first.length > 0 && text.includes(first); }})()"""
_SHOW = """app.setView({{content: 'img', contentPath: results[{path}].data_uri,
  resultPath: {path}, navbarMode: 'resultinfo'}})"""


def _chromium(profile: Path) -> subprocess.Popen:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")
    return subprocess.Popen(
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


def _screenshot(page: DevTools, path: Path) -> bytes:
    import base64

    png = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)
    return png


def _script_errors(page: DevTools) -> list:
    ev = page.events
    errors = [e for e in ev if e.get("method") == "Runtime.exceptionThrown"]
    errors += [
        e
        for e in ev
        if e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"
    ]
    errors += [
        e
        for e in ev
        if e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error"
    ]
    return errors


@pytest.mark.browser
def test_report_landing_page_and_every_figure_view_render_in_chromium(quick_run, tmp_path):
    """The landing page shows the claims table; every figure opens non-blank with its caption,
    from the landing page's links and from the menu; the claims table's own view is HTML; no
    script error. ``NNGRID_SCREENSHOTS=<folder>`` keeps the screenshots (docs/screenshots)."""
    html = quick_run / "results" / "report.html"
    shots = Path(os.environ.get("NNGRID_SCREENSHOTS") or tmp_path / "shots")
    proc = _chromium(tmp_path / "profile")
    try:
        page = DevTools(_cdp_page(tmp_path / "profile" / "DevToolsActivePort"))
        for domain in ("Runtime", "Page", "Log"):
            page.call(f"{domain}.enable")
        page.call("Page.navigate", url=html.as_uri())
        page.wait_for("typeof results === 'object' && document.querySelector('#app a') !== null")

        # the landing page: the three questions and one visible row per claim of claims.csv
        claims = pd.read_csv(quick_run / "results" / "tables" / "claims.csv")
        rows = json.loads(
            page.wait_for(
                f"(() => {{ const r = {_CLAIM_ROWS}; return JSON.parse(r).length ? r : ''; }})()"
            )
        )
        # the table groups claims by the lesson's questions, in claims.csv's order within each
        order = {section: i for i, section in enumerate(verdict_table.SECTIONS)}
        grouped = claims.sort_values("section", key=lambda s: s.map(order), kind="stable")
        assert [v for v, _ in rows] == list(grouped["verdict"]), rows
        assert all(v == shown for v, shown in rows)
        body = page.js("document.body.innerText")
        for question in verdict_table.SECTIONS.values():
            assert question in body
        assert "The protocol" in body
        _screenshot(page, shots / "landing.png")

        results = json.loads(
            page.js(
                "JSON.stringify(Object.fromEntries(Object.entries("
                "results).map(([k, r]) => [k, r.mime_type])))"
            )
        )
        images = sorted(k for k, mime in results.items() if mime.startswith("image/"))
        expected = {Path(p).name for p in (quick_run / "results" / "figures").glob("*.png")}
        assert {Path(p).name for p in images} == expected and len(images) >= 17

        # the landing page's figure links open the figure with its caption
        links = page.js("document.querySelectorAll('a.nngrid-figure').length")
        drawn = {Path(p).stem for p in images}
        assert links == int(claims["figure"].isin(drawn).sum())  # one per claim with its figure
        page.js("document.querySelector('a.nngrid-figure').click()")
        first = next(p for p in images if Path(p).stem == claims["figure"].iloc[0])
        assert page.wait_for(_FIGURE_SHOWN.format(path=json.dumps(first)))
        assert page.wait_for(_CAPTION_SHOWN.format(path=json.dumps(first)))

        # every figure view: the image decoded and not blank, its caption beside it
        for path in images:
            page.js(_SHOW.format(path=json.dumps(path)))
            ink = page.wait_for(_FIGURE_SHOWN.format(path=json.dumps(path)))
            assert ink > 0.01, f"{path} looks blank ({ink:.4f} of its pixels drawn)"
            assert page.wait_for(_CAPTION_SHOWN.format(path=json.dumps(path))), path
            if Path(path).stem in ("fig02_nonlinearity", "fig09_heatmaps"):
                time.sleep(0.3)
                _screenshot(page, shots / f"{Path(path).stem}.png")

        # the claims table's own view is an HTML page in the report, not a download
        tables = [k for k, mime in results.items() if mime == "text/html"]
        assert any(k.endswith("claims.html") for k in tables), results
        doc = page.js(
            "(() => { const u = results[" + json.dumps(tables[0]) + "].data_uri; "
            "return atob(u.split(',')[1]); })()"
        )
        assert doc.count('class="nngrid-claim"') == len(claims)

        # the menu: every category opens and lists its results
        for category in json.loads(page.js("JSON.stringify(Object.keys(categories))")):
            page.call("Page.navigate", url=html.as_uri())
            page.wait_for("document.querySelector('#app a') !== null")
            assert page.js(_CLICK.format(text=json.dumps(category))), category
            assert page.wait_for(_ROWS), category

        errors = _script_errors(page)
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
    from nngrid.study.claims import CLAIMS

    assert {c.figure for c in CLAIMS} <= stems  # every claim's figure is drawn


# ----------------------------------------------------------------------------- the landing page


def _contract_claims():
    """A claims table in the issue-9 contract, one claim per verdict, built here."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "claim_id": "nonlinearity",
                "section": "activations",
                "claim": "without a nonlinearity a network cannot separate moons",
                "verdict": "supported",
                "statistic": "accuracy gain over identity",
                "value": 0.31,
                "ci_low": 0.25,
                "ci_high": 0.37,
                "threshold": 0.05,
                "direction": ">",
                "evidence": "relu beats identity on every dataset.",
                "figure": "fig02_nonlinearity",
            },
            {
                "claim_id": "dropout",
                "section": "overfitting",
                "claim": "dropout closes the train/test gap",
                "verdict": "inconclusive",
                "statistic": "gap change",
                "value": -0.01,
                "ci_low": -0.04,
                "ci_high": 0.02,
                "threshold": 0.0,
                "direction": "<",
                "evidence": "the interval straddles zero.",
                "figure": "fig09_gap",
            },
            {
                "claim_id": "adam_fast",
                "section": "optimizers",
                "claim": "Adam gets there fast",
                "verdict": "contradicted",
                "statistic": "rank of adam",
                "value": 4.0,
                "ci_low": 3.0,
                "ci_high": 5.0,
                "threshold": 2.0,
                "direction": "<",
                "evidence": "two optimizers reach the target in fewer steps <b>.",
                "figure": "fig09_target",
            },
        ]
    )


def _render_like_snakemake(rst: str) -> str:
    """What Snakemake 9 does with a report's first page: Jinja2, then docutils to HTML."""
    import jinja2
    from docutils.core import publish_parts

    links = "\n\n.. _fig02_nonlinearity.png: javascript:app.showResultInfo('x')\n"
    text = jinja2.Environment().from_string(rst + links).render(snakemake=None)
    return publish_parts(text, writer="html")["html_body"]


def test_landing_page_shows_each_claim_with_verdict_statistic_interval_and_figure_link():
    claims = _contract_claims()
    figures = {"fig02_nonlinearity": "results/figures/fig02_nonlinearity.png"}
    config = {
        "data_seed": 0,
        "splits": {"val_fraction": 0.2, "test_fraction": 0.2},
        "datasets": {"moons": {}, "mnist1d": {"val_fraction": 0.1}},
        "optimizers": {"adam": {"lr_grid": {"low": 3e-4, "high": 0.3, "points": 7}}},
        "training": {"seeds": [0, 1, 2], "target_accuracy": 0.9},
    }
    html = _render_like_snakemake(
        landing.landing_page(claims, "Intro\n=====\n\nThree questions.", config, figures)
    )
    for question in verdict_table.SECTIONS.values():
        assert question in html
    rows = re.findall(r'<tr class="nngrid-claim" data-verdict="(\w+)">(.*?)</tr>', html, re.S)
    assert [v for v, _ in rows] == list(claims["verdict"])
    for (_, row), claim in zip(rows, claims.to_dict("records"), strict=True):
        assert claim["claim"] in row
        assert f"{claim['statistic']} = {claim['value']:.3g}" in row
        assert f"95% CI {claim['ci_low']:.3g} to {claim['ci_high']:.3g}" in row
        assert f"interval lies {claim['direction']} {claim['threshold']:.3g}" in unescape(row)
    # a figure in the report gets a link that opens it with its caption; others are named only
    assert "results[&#x27;results/figures/fig02_nonlinearity.png&#x27;].data_uri" in rows[0][1]
    assert "onclick" not in rows[2][1] and "fig09_target" in rows[2][1]
    assert "&lt;b&gt;" in rows[2][1], "table text must be escaped"
    assert "1 supported, 1 contradicted, 1 inconclusive" in html
    # the protocol, with this config's numbers
    assert "validation (20%) and test (20%)" in html and "mnist1d: validation 10%" in html
    assert "adam 7 rates from 0.0003 to 0.3" in html and "3 seeds (0, 1, 2)" in html


def test_landing_page_survives_template_syntax_in_the_tables():
    claims = _contract_claims()
    claims.loc[0, "evidence"] = "a {{ brace }} and {% tag %} from the data"
    html = _render_like_snakemake(landing.landing_page(claims, "Intro", {}, {}))
    assert "a {{ brace }} and {% tag %} from the data" in html


def test_landing_page_shows_unmeasured_claims_without_inventing_numbers_and_refuses_bad_tables():
    from nngrid.study.claims import claims_table

    unmeasured = claims_table({})  # no experiment ran: every claim inconclusive, no numbers
    html = verdict_table.claims_html(unmeasured)
    assert html.count('data-verdict="inconclusive"') == len(unmeasured)
    assert verdict_table.SECTIONS["overfitting"] in html
    assert "95% CI" not in html  # no interval: none is invented
    with pytest.raises(NngridError, match="unknown verdict"):
        verdict_table.claims_html(_contract_claims().assign(verdict="maybe"))
    with pytest.raises(NngridError, match="lacks the column"):
        verdict_table.claims_html(_contract_claims().drop(columns="figure"))


def test_write_landing_writes_the_page_and_a_standalone_table(tmp_path):
    from nngrid.study.integrity import write_claims_stamp

    csv = tmp_path / "claims.csv"
    _contract_claims().to_csv(csv, index=False)
    write_claims_stamp(csv, [])  # as nngrid.study.claims writes it: the report verifies the stamp
    desc = tmp_path / "workflow.rst"
    desc.write_text("Three questions\n===============\n")
    page, table = tmp_path / "landing.rst", tmp_path / "claims.html"
    landing.write_landing(csv, desc, {}, page, table, ["results/figures/fig09_target.png"])
    assert page.read_text().startswith("{% raw %}\nThree questions")
    doc = table.read_text()
    assert doc.startswith("<!DOCTYPE html>") and doc.count('class="nngrid-claim"') == 3
    assert "onclick" not in doc  # a framed page cannot reach the report's script
    assert "results/figures/fig09_target.png" in page.read_text()


def test_write_landing_adds_per_dataset_verdicts_and_replication_when_they_exist(tmp_path):
    import pandas as pd

    from nngrid.study.integrity import write_claims_stamp, write_replication_stamp

    csv = tmp_path / "claims.csv"
    claims = _contract_claims()
    claims.to_csv(csv, index=False)
    by = tmp_path / "claims_by_dataset.csv"
    row = {"verdict": "supported", "value": 0.1, "ci_low": 0.05, "ci_high": 0.2,
           "threshold": 0.0, "direction": ">"}  # fmt: skip
    rows = [{**row, "claim_id": c, "dataset": f"set{i}"} for c in claims["claim_id"]
            for i in range(200)]  # fmt: skip
    rows[0]["dataset"] = "<b>set0</b>"  # a name from the data: shown as text
    pd.DataFrame(rows).to_csv(by, index=False)
    # as nngrid.study.claims writes them: the report verifies both tables by the stamp
    write_claims_stamp(csv, [], by)
    desc = tmp_path / "workflow.rst"
    desc.write_text("Three questions\n===============\n")
    page, table = tmp_path / "landing.rst", tmp_path / "claims.html"
    landing.write_landing(csv, desc, {}, page, table, [], by, tmp_path / "no_replication.csv")
    text = page.read_text()
    assert "Per dataset\n-----------" in text and "Replication" not in text
    assert "&lt;b&gt;set0&lt;/b&gt;" in text and "<b>set0" not in text
    assert max(len(line) for line in text.splitlines()) < 10_000  # docutils' line limit
    from nngrid.study.replication import compare

    rep = tmp_path / "replication.csv"
    compare(claims, claims).to_csv(rep, index=False)
    write_replication_stamp(rep, csv, csv)  # as nngrid.study.replication writes it
    landing.write_landing(csv, desc, {}, page, table, [], by, rep)
    assert f"{len(claims)} of {len(claims)} verdicts agree, 0 flips" in page.read_text()


def test_landing_page_with_many_claims_keeps_every_line_under_docutils_limit():
    """docutils refuses a line past 10,000 characters ('Line exceeds the line-length-limit')
    and the report then showed an error instead of the table: 32 claims on one line did."""
    import pandas as pd

    many = pd.concat([_contract_claims()] * 40, ignore_index=True)
    page = landing.landing_page(many, "Intro\n=====\n", {}, {})
    assert max(len(line) for line in page.splitlines()) < 10_000
    html = _render_like_snakemake(page)
    assert html.count('class="nngrid-claim"') == len(many)


def test_caption_verdicts_escape_rst_markup_from_the_tables():

    row = _contract_claims().iloc[[0]].assign(statistic="share of |w| < 1e-3 *per seed*")
    text = captions.verdicts_text(row, "fig02_nonlinearity")
    from docutils.core import publish_parts

    html = publish_parts(text, writer="html", settings_overrides={"report_level": 2})["html_body"]
    assert "share of |w| &lt; 1e-3 *per seed*" in html and "system-message" not in html


def test_landing_page_sets_the_verdicts_of_each_protocol_side_by_side():
    claims = _contract_claims()
    second = claims.iloc[[2]].assign(protocol="full", verdict="inconclusive", ci_low=1.0)
    claims = pd.concat([claims.assign(protocol=["", "", "lr"]), second], ignore_index=True)
    html = _render_like_snakemake(landing.landing_page(claims, "Intro", {}, {}))
    assert "Under each tuning protocol" in html and "full (every hyperparameter)" in html
    rows = re.findall(r'<tr class="nngrid-claim" data-verdict="(\w+)">(.*?)</tr>', html, re.S)
    assert "Adam gets there fast (tuning protocol: lr)" in rows[2][1]
    assert "Adam gets there fast (tuning protocol: full)" in rows[3][1]
    assert "(tuning protocol" not in rows[0][1]  # a claim decided once is not labelled
    text = captions.verdicts_text(claims, "fig09_target")
    assert "(tuning protocol: lr)" in text and "(tuning protocol: full)" in text
    # one protocol: no side-by-side section, no labels
    html = _render_like_snakemake(landing.landing_page(claims.iloc[:3], "Intro", {}, {}))
    assert "Under each tuning protocol" not in html and "(tuning protocol" not in html


def test_the_protocol_paragraph_names_each_studys_tuning_protocol():
    import yaml

    config = yaml.safe_load((ROOT / "config" / "protocols.yaml").read_text())
    text = landing.protocol_summary(config)
    assert "**Protocols.** study ``lr`` tunes the learning rate alone" in text
    assert "study ``full`` runs the full protocol: 7 trials" in text
    assert "study ``default`` runs the default protocol" in text
    assert "per cell (seeded by search seed 0 and the cell's names)" in text
    quick = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())
    assert "study ``quick_full`` runs the full protocol: 5 trials" in landing.protocols_text(quick)
    del quick["studies"]["quick_full"]  # the learning rate alone: nothing to say
    assert landing.protocols_text(quick) == "" and "**Protocols.**" not in (
        landing.protocol_summary(quick)
    )
