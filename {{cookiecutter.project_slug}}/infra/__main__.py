"""Entry point the Pulumi CLI runs: validate the stack config, then declare the program."""

import sys
from pathlib import Path

# `pulumi` runs this directory as a script; imports are rooted at the project directory.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from infra.config import ConfigError, load_stack_config
from infra.program import build, export

try:
    config = load_stack_config(pulumi.get_stack())
except ConfigError as error:
    # Refuse before any resource is declared.
    raise SystemExit(f"ERROR: {error}") from None
export(build(config))
