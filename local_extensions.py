"""Jinja extension loaded by cookiecutter (`_extensions` in cookiecutter.json).

Gives the hooks the template's absolute location, so they can import hooks/template_rules.py
and read the catalog whatever directory cookiecutter was started from.
"""

from pathlib import Path

from jinja2.ext import Extension


class TemplateLocation(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.globals["template_dir"] = str(Path(__file__).resolve().parent)
