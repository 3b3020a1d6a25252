"""The monitor on logs a real local vLLM server wrote (the shared `vllm_server` fixture).

One server, four windows of its log: the reference (held-out test split), in-distribution
traffic (the validation split: messages the reference does not hold), a shift the test plants
(another language and domain), and a window too small to judge.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor import cli

ROOT = Path(__file__).resolve().parents[2]
DATASET = ROOT / "pipelines" / "data" / "intents.jsonl"
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]

# The planted shift: French and Italian messages about travel bookings (neither language nor
# domain is in the training data), 60 distinct ones.
PLANTED = [
    f"{opening} {ask}"
    for opening in ("Bonjour,", "Salut,", "Buongiorno,", "Ciao,", "Madame, Monsieur,")
    for ask in (
        "je voudrais changer la date de mon vol pour Lyon",
        "est-ce que l'hôtel propose un petit-déjeuner inclus ?",
        "vorrei prenotare una camera doppia per tre notti a Firenze",
        "il treno per Milano è stato cancellato, posso avere un rimborso?",
        "quel est le poids autorisé pour les bagages en cabine ?",
        "posso portare il mio cane sul traghetto per la Sardegna?",
        "la location de voiture comprend-elle l'assurance ?",
        "a che ora apre il check-in dell'albergo?",
        "mon passeport expire dans deux mois, puis-je voyager ?",
        "c'è un autobus dall'aeroporto al centro città?",
        "pouvez-vous réserver une table pour quatre personnes ce soir ?",
        "quanto costa il biglietto per il museo degli Uffizi?",
    )
]


def now() -> str:
    time.sleep(0.01)  # windows are half-open by receive time: keep their edges apart
    return datetime.now(UTC).isoformat()


def traffic(tmp_path: Path, server: dict, texts: list[str], name: str) -> None:
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps({"input": t}) + "\n" for t in texts))
    assert cli.main(["traffic", "--name", server["name"], "--file", str(path)]) == 0


def judge(tmp_path: Path, server: dict, reference: Path, since: str, until: str | None, out: str):
    args = ["run", "--log", server["log"], "--reference", str(reference)]
    args += ["--since", since, "--out", str(tmp_path / out)]
    if until:
        args += ["--until", until]
    code = cli.main(args)
    return code, json.loads((tmp_path / out / "summary.json").read_text())


@pytest.fixture(scope="module")
def windows(vllm_server, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("monitor")
    reference = tmp_path / "reference.json"
    code = cli.main(
        [
            *("reference", "--name", vllm_server["name"]),
            *("--training-data", str(DATASET), "--out", str(reference)),
        ]
    )
    assert code == 0
    edges = [now()]
    assert (
        cli.main(
            [
                "traffic",
                "--name",
                vllm_server["name"],
                "--file",
                str(DATASET),
                "--split",
                "validation",
            ]
        )
        == 0
    )
    edges.append(now())
    traffic(tmp_path, vllm_server, PLANTED * 2, "planted")  # 120: above min_requests
    edges.append(now())
    traffic(tmp_path, vllm_server, PLANTED[:10], "few")
    return tmp_path, reference, edges


def test_reference_holds_the_held_out_split_as_logged(windows):
    _, reference, _ = windows
    document = json.loads(reference.read_text())
    assert document["meta"]["split"] == "test" and len(document["requests"]) >= 50
    first = document["requests"][0]
    assert first["input"] and first["output"] and first["latency_s"] >= 0


def test_in_distribution_traffic_shows_no_drift(windows, vllm_server):
    tmp_path, reference, edges = windows
    code, summary = judge(tmp_path, vllm_server, reference, edges[0], edges[1], "in")
    assert summary["outcome"] == "no_drift", summary["reason"]
    assert code == 0 and summary["counts"]["requests"] >= 300
    assert (tmp_path / "in" / "drift.html").stat().st_size > 10_000  # evidently's report


def test_a_planted_shift_is_drift_and_names_the_signal(windows, vllm_server):
    tmp_path, reference, edges = windows
    code, summary = judge(tmp_path, vllm_server, reference, edges[1], edges[2], "shift")
    assert code == 1 and summary["outcome"] == "drift"
    assert {"text", "oov_rate"} <= set(summary["drifted"]), summary["signals"]
    assert "text" in (tmp_path / "shift" / "report.md").read_text()


def test_too_little_traffic_is_inconclusive(windows, vllm_server):
    tmp_path, reference, edges = windows
    code, summary = judge(tmp_path, vllm_server, reference, edges[2], None, "few")
    assert code == 0 and summary["outcome"] == "inconclusive"
    assert summary["counts"]["requests"] == 10 and "min_requests" in summary["reason"]


def test_malformed_lines_are_counted_and_reported(windows, vllm_server):
    tmp_path, reference, edges = windows
    damaged = tmp_path / "damaged.log"
    text = Path(vllm_server["log"]).read_text()
    cut = '{"time": "2026-12-02T00:00:00+00:00", "logger": "vllm.entrypoints.serve.utils.request_lo'
    damaged.write_text(
        text + cut + "\n" + '{"logger": "vllm.entrypoints.serve.utils.request_logger"}\n'
    )
    args = ["run", "--log", str(damaged), "--reference", str(reference), "--since", edges[0]]
    args += ["--until", edges[1], "--out", str(tmp_path / "damaged")]
    cli.main(args)
    summary = json.loads((tmp_path / "damaged" / "summary.json").read_text())
    assert summary["counts"]["malformed_lines"] == 2
    assert any("not valid JSON" in e for e in summary["malformed_examples"])
