"""The stacks of this project: one infra/Pulumi.<stack>.yaml file each (stdlib only).

The one list of stacks. `make plan-all`, `pipelines.submit_vertex --stack` and the tests read it
here; adding a stack is adding its file (and policies/config/<stack>.json), see infra/README.md.
"""

from __future__ import annotations

import re
from pathlib import Path

INFRA_DIR = Path(__file__).resolve().parent
STACK_FILE_RE = re.compile(r"^Pulumi\.([a-z0-9][a-z0-9_-]*)\.yaml$")


def stack_names(infra_dir: Path = INFRA_DIR) -> list[str]:
    """The committed stacks, sorted; `Pulumi.yaml` (the project file) is not one."""
    return sorted(
        match.group(1)
        for path in infra_dir.glob("Pulumi.*.yaml")
        if (match := STACK_FILE_RE.match(path.name))
    )
