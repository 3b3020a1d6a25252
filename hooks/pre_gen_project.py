"""Refuse wrong answers before cookiecutter writes a single project file.

The answers arrive as a JSON string literal (double `tojson`), so quotes or Jinja-like text
in a value cannot break or inject into this script. On failure cookiecutter removes the
project directory it created, so nothing is left behind.
"""

import json
import sys
from pathlib import Path

CONTEXT = json.loads({{cookiecutter | tojson | tojson}})
TEMPLATE_DIR = Path({{template_dir | tojson}})

sys.path.insert(0, str(TEMPLATE_DIR / "hooks"))
from template_rules import check_answers, load_catalog  # noqa: E402

errors = check_answers(CONTEXT, load_catalog(TEMPLATE_DIR))
if errors:
    print("ERROR: cookiecutter answers refused, nothing was generated:", file=sys.stderr)
    for error in errors:
        print(f"  - {error}", file=sys.stderr)
    sys.exit(1)
