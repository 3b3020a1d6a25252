"""Fixtures of the infra tests (helpers live in infra_helpers.py)."""

import pytest

from infra.config import StackConfig, load_stack_config


@pytest.fixture
def dev() -> StackConfig:
    return load_stack_config("dev")
