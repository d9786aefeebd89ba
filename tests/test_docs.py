"""Docs cannot drift: the hook reference and man pages are what the code renders,
and every hook has a test named test_hook_<name>."""

import pathlib
import re

from silkctl import manpage
from silkctl.plugins import reference

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_plugins_doc_holds_current_hook_reference():
    text = (ROOT / "docs" / "plugins.md").read_text()
    assert reference.render() in text, "run: python -m silkctl.plugins.reference"


def test_every_hook_has_a_test_named_after_it():
    sources = "\n".join(
        p.read_text() for p in ROOT.joinpath("tests").rglob("test_*.py")
    )
    missing = [
        name
        for name in reference.hook_names()
        if not re.search(rf"def test_hook_{name}\w*\(", sources)
    ]
    assert missing == []


def test_man_pages_are_current():
    for name, text in manpage.render_all().items():
        path = ROOT / "man" / name
        assert path.exists(), f"man/{name} missing: run python -m silkctl.manpage man"
        assert path.read_text() == text, (
            f"man/{name} is stale: python -m silkctl.manpage man"
        )


def test_every_command_is_in_its_man_page():
    import typer.main

    from silkctl.cli import app

    root = typer.main.get_command(app)
    for group_name, group in root.commands.items():
        page = (ROOT / "man" / f"silkctl-{group_name}.1").read_text()
        for sub in getattr(group, "commands", {}) or {}:
            assert f"silkctl {group_name} {sub}" in page


def test_every_config_key_is_in_the_conf_man_page():
    from silkctl.config import ControllerConfig, DaemonConfig

    page = (ROOT / "man" / "silkctl.conf.5").read_text()
    for model in (ControllerConfig, DaemonConfig):
        for key, _, _ in model.describe():
            assert f"\\fB{key.replace('-', chr(92) + '-')}\\fR" in page
