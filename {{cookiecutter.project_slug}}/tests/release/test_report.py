"""`make report`: the PR comment and the HTML page from evidence files, and from none."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from canary_evidence import compare, load_summary

from release import report


def write(path: Path, document) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document) if isinstance(document, dict) else document)


@pytest.fixture
def full_build(tmp_path: Path) -> Path:
    build = tmp_path / "build"
    write(
        build / "plan/dev.json",
        {"stack": "dev", "resources": [{"type": "gcp:container/cluster:Cluster"}] * 7},
    )
    write(build / "plan/dev.md", "## Plan: dev\n\n| type | count |\n|---|---|\n| cluster | 1 |\n")
    write(
        build / "eval/summary.json",
        {
            "cases": [{}] * 40,
            "manifest": {"model": {"model_version": "2", "endpoint": "http://canary/v1"}},
            "metrics": {"label_accuracy": {"mean": 0.91}},
            "passed": True,
        },
    )
    write(
        build / "eval/report.md", "## Eval\n\nflipped: `<script>alert(1)</script>`\n\n<b>raw</b>\n"
    )
    write(build / "eval/compare.json", {**compare(), "verdict": "pass"})
    write(
        build / "eval/compare.md",
        "## Compare\n\n| metric | delta |\n|---|---|\n| label_accuracy | +0.02 |\n",
    )
    load = {
        **load_summary(),
        "endpoint": "http://stable/v1",
        "passed": True,
        "requests_per_s": 3.2,
        "output_tokens_per_s": 180.5,
        "e2e_ms": {"n": 40, "p50": 300, "p95": 600, "p99": 700},
    }
    write(build / "load/summary.json", load)
    write(build / "load/report.md", "## Load\n\nTTFT p95 120 ms\n")
    write(
        build / "cost/summary.json",
        {
            "cost": {
                "monthly_min": 170.8,
                "monthly_max": 1234.5,
                "cluster_fee_hourly": 0.1,
                "pools": [{"name": "gpu-pool", "monthly_min": 0.0, "monthly_max": 1100.0}],
            },
            "tokens": {
                "measured_on_cpu": True,
                "pools": [{"pool": "gpu-pool", "usd_per_million_output_tokens": 2.75}],
            },
            "diff": {"monthly_max_delta": 350.0},
        },
    )
    write(build / "cost/report.md", "## Cost\n\nprices from 2026-07-30\n")
    write(build / "canary/decision.json", {"verdict": "promoted", "reason": "all 3 steps passed"})
    write(build / "canary/decision.md", "### Canary: promoted\n")
    for side in ("stable", "canary"):
        write(build / f"canary/step-100/{side}/load/summary.json", load)
    return build


def run(build: Path, tmp_path: Path) -> tuple[str, str]:
    out = tmp_path / "report"
    assert report.main(["--build", str(build), "--out", str(out)]) == 0
    return (out / "pr-comment.md").read_text(), (out / "index.html").read_text()


def test_comment_has_marker_first_and_every_section(full_build, tmp_path):
    comment, _ = run(full_build, tmp_path)
    assert comment.splitlines()[0] == report.MARKER
    for title in (
        "Infrastructure plan",
        "Quality (evals)",
        "Latency and throughput",
        "Cost",
        "Canary",
    ):
        assert title in comment
    assert "stack `dev`: 7 resources" in comment
    assert "TTFT p95 120 ms" in comment and "180 tok/s" in comment
    assert "171-1,234 USD/month (min-max nodes)" in comment
    assert "2.75 USD per million output tokens (throughput measured on CPU)" in comment
    assert "+350 USD/month at max vs base" in comment
    assert "**promoted**" in comment
    assert "Every stage reported" in comment


def test_cost_headline_falls_back_to_the_roofline_bound(full_build, tmp_path):
    """A load measured on a CPU gives no GPU $/Mtok (cost/tokens.py): the headline shows the
    roofline bound of the pool's GPU, said to be one, never the CPU figure."""
    summary = json.loads((full_build / "cost/summary.json").read_text())
    summary["tokens"] = {
        "pools": [
            {
                "pool": "gpu-pool",
                "gpu_type": "nvidia-l4",
                "usd_per_million_output_tokens": None,
                "roofline": {"usd_per_million_output_tokens": 0.293},
            }
        ]
    }
    write(full_build / "cost/summary.json", summary)
    comment, _ = run(full_build, tmp_path)
    assert "at least 0.293 USD per million output tokens on nvidia-l4 (roofline bound" in comment


def test_html_is_self_contained_with_plots_and_escapes_model_output(full_build, tmp_path):
    _, html = run(full_build, tmp_path)
    assert html.count('src="data:image/png;base64,') == 4  # latency, throughput, evals, cost
    assert not re.search(r'(src|href)="https?://', html), "the page must work offline"
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>raw</b>" not in html


def test_missing_evidence_is_stated_never_invented(tmp_path):
    build = tmp_path / "build"
    load = {**load_summary(), "endpoint": "http://stable/v1", "passed": False}
    del load["output_tokens_per_s"]  # a field the report reads, dropped or renamed upstream
    write(build / "load/summary.json", load)
    write(build / "eval/summary.json", "{not json")
    comment, html = run(build, tmp_path)
    assert "missing: `build/plan/<stack>.json` not found; run `make plan`" in comment
    assert "`summary.json` is not valid JSON" in comment
    assert "missing: `build/canary/decision.json` not found; run `make canary`" in comment
    assert "Missing evidence: Infrastructure plan, Quality (evals), Cost, Canary" in comment
    assert "❌ | **Latency and throughput" in comment  # its own verdict: failed
    # Never made up: the schema error says which field is missing (common/contracts.py).
    assert "output_tokens_per_s: Field required" in comment
    assert html.count('src="data:image/png;base64,') == 1  # latency only: no throughput fields
    assert html.count("no data for this plot") == 3
    assert "build/plan/&lt;stack&gt;.json not found" in html  # escaped, not swallowed as a tag


def test_a_long_section_is_cut_to_fit_one_comment(full_build, tmp_path):
    write(full_build / "eval/report.md", "| row |\n" * 20_000)
    comment, _ = run(full_build, tmp_path)
    assert len(comment) < report.COMMENT_LIMIT
    assert "cut to fit one comment" in comment


def test_outputs_are_replaced_whole(full_build, tmp_path):
    run(full_build, tmp_path)
    leftovers = [p.name for p in (tmp_path / "report").iterdir() if p.name.startswith(".")]
    assert leftovers == []
