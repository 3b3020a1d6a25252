"""policies/gates.yaml validates; malformed gates files are refused with a clear message."""

import pytest
import yaml

from policies.gates import GATES_FILE, GatesError, load_gates


def test_committed_gates_validate():
    gates = load_gates()
    assert gates.canary.steps[-1] == 100
    assert 0 < gates.eval.max_regression < 1
    assert gates.load.ttft_p95_ms > 0


def write(tmp_path, document):
    path = tmp_path / "gates.yaml"
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document))
    return path


def mutated(section, key, value):
    document = yaml.safe_load(GATES_FILE.read_text())
    document[section][key] = value
    return document


@pytest.mark.parametrize(
    ("document", "needle"),
    [
        ("eval: [", "not valid YAML"),
        ("- 1\n- 2\n", "must be a mapping"),
        (mutated("canary", "steps", [50, 10, 100]), "strictly increase"),
        (mutated("canary", "steps", [10, 50]), "ending at 100"),
        (mutated("eval", "min_scores", {"label_accuracy": 1.5}), "between 0 and 1"),
        (mutated("load", "ttft_p95_ms", -1), "load.ttft_p95_ms"),
        (mutated("load", "ttft_p99_ms", 5), "load.ttft_p99_ms"),
        (mutated("canary", "latency_noise_floor_ms", {"tpot": 5}), "latency_noise_floor_ms"),
        (mutated("canary", "latency_noise_floor_ms", {"ttft": -1}), "latency_noise_floor_ms"),
    ],
)
def test_malformed_gates_are_refused(tmp_path, document, needle):
    with pytest.raises(GatesError) as caught:
        load_gates(write(tmp_path, document))
    assert needle in str(caught.value)


def test_missing_gates_file_is_refused(tmp_path):
    with pytest.raises(GatesError, match="missing"):
        load_gates(tmp_path / "nope.yaml")
