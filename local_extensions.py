"""Jinja extension loaded by cookiecutter (`_extensions` in cookiecutter.json).

Gives the hooks the template's absolute location, so they can import hooks/template_rules.py
and read the catalog whatever directory cookiecutter was started from; and gives rendered files
the GPU catalog itself (`gpu_catalog`, catalog/gpu_availability.yaml as loaded by
template_rules.load_catalog), so no rendered file keeps its own table of GPU types.
"""

import sys
from pathlib import Path

from jinja2.ext import Extension

TEMPLATE_DIR = Path(__file__).resolve().parent


def _gpu_catalog() -> dict:
    sys.path.insert(0, str(TEMPLATE_DIR / "hooks"))
    try:
        from template_rules import load_catalog
    finally:
        sys.path.remove(str(TEMPLATE_DIR / "hooks"))
    return load_catalog(TEMPLATE_DIR)


class TemplateLocation(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.globals["template_dir"] = str(TEMPLATE_DIR)
        environment.globals["gpu_catalog"] = _gpu_catalog()
