"""Finish a generated project: derived settings, unused files, the cruft answers file, git.

Runs inside the new project directory. Answers arrive as a JSON string literal (see
pre_gen_project.py), so values are data, never code.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

CONTEXT = json.loads({{cookiecutter | tojson | tojson}})
TEMPLATE_DIR = Path({{template_dir | tojson}})

sys.path.insert(0, str(TEMPLATE_DIR / "hooks"))
from template_rules import files_to_remove  # noqa: E402


def remove_unused_files() -> None:
    for relative in files_to_remove(CONTEXT):
        Path(relative).unlink(missing_ok=True)


def write_cruft_answers() -> None:
    """`.cruft.json` lets `cruft check` / `cruft update` pull later template changes."""
    template = CONTEXT.get("_template", str(TEMPLATE_DIR))
    commit = None
    if (TEMPLATE_DIR / ".git").exists():
        result = subprocess.run(
            ["git", "-C", str(TEMPLATE_DIR), "rev-parse", "HEAD"], capture_output=True, text=True
        )
        commit = result.stdout.strip() if result.returncode == 0 else None
    answers = {k: v for k, v in CONTEXT.items() if not k.startswith("_")}
    answers["_template"] = template
    answers["_copy_without_render"] = CONTEXT.get("_copy_without_render", [])
    cruft = {
        "template": template,
        "commit": commit,
        "checkout": CONTEXT.get("_checkout"),
        "context": {"cookiecutter": answers},
        "directory": None,
    }
    Path(".cruft.json").write_text(json.dumps(cruft, indent=2, sort_keys=True) + "\n")


def init_git() -> None:
    """pre-commit (make lint) reads the files git tracks; start a repository unless inside one."""
    if shutil.which("git") is None:
        return
    inside = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"], capture_output=True, text=True
    )
    if inside.returncode == 0:
        return
    subprocess.run(["git", "init", "-q", "-b", "main"], check=True)
    subprocess.run(["git", "add", "-A"], check=True)


remove_unused_files()
write_cruft_answers()
init_git()
