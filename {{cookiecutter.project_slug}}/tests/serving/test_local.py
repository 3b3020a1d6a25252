"""The local launcher's refusals, before any engine starts (fast)."""

from __future__ import annotations

import json
import socket

import pytest

from serving import local


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "STATE_DIR", tmp_path)
    return tmp_path


def test_bad_names_are_refused(state_dir, capsys):
    assert local.main(["start", "--name", "../etc", "--model", str(state_dir)]) == 2
    assert "NAME='../etc'" in capsys.readouterr().err


def test_a_missing_model_directory_is_refused(state_dir, capsys):
    code = local.main(["start", "--name", "t", "--model", str(state_dir / "no" / "model")])
    assert code == 2
    assert "not a model directory" in capsys.readouterr().err
    assert list(state_dir.iterdir()) == []  # no state file, no log


def test_a_directory_without_config_is_refused(state_dir, tmp_path, capsys):
    empty = tmp_path / "empty-model"
    empty.mkdir()
    assert local.main(["start", "--name", "t", "--model", str(empty)]) == 2
    assert "needs config.json" in capsys.readouterr().err


def test_a_registry_reference_without_a_registry_says_what_to_run(
    state_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}")
    assert local.main(["start", "--name", "t", "--model", "champion"]) == 2
    err = capsys.readouterr().err
    assert "MODEL='champion'" in err and "make train" in err


def test_a_port_in_use_is_refused(state_dir, tmp_path, capsys):
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = local.main(["start", "--name", "t", "--model", str(model), "--port", str(port)])
    assert code == 2
    assert f"PORT={port}" in capsys.readouterr().err
    assert not (state_dir / "t.json").exists()


def test_stop_without_a_server_is_a_no_op(state_dir, capsys):
    assert local.main(["stop", "--name", "nothing"]) == 0
    assert "no server named 'nothing'" in capsys.readouterr().out


def test_stop_of_a_dead_server_removes_its_stale_state(state_dir, capsys):
    (state_dir / "old.json").write_text(
        json.dumps({"pid": 2**22 + 7, "port": 1, "pgid": 2**22 + 7})
    )
    assert local.main(["stop", "--name", "old"]) == 0
    assert "not running any more" in capsys.readouterr().out
    assert not (state_dir / "old.json").exists()


def test_check_without_a_server(state_dir, capsys):
    assert local.main(["check", "--name", "nothing"]) == 2
    assert "make serve NAME=nothing" in capsys.readouterr().err


def test_free_port_is_in_the_range_and_bindable():
    port = local.free_port("127.0.0.1", 18000, 18999)
    assert 18000 <= port <= 18999
    local.check_port_free("127.0.0.1", port)


def test_a_full_port_range_is_reported():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        with pytest.raises(local.ServeError, match=f"no free port in {port}-{port}"):
            local.free_port("127.0.0.1", port, port)
