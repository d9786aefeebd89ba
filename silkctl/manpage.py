"""Renders the man pages in man/ from the CLI itself, so they cannot drift.

`python -m silkctl.manpage man/` writes `silkctl.1` (overview and global
options) and one `silkctl-<group>.1` per command group, plus
`silkctl.conf.5` from the config models. `tests/test_manpage.py` checks
the committed files equal what this renders.
"""

import sys
from pathlib import Path

import typer.main

from silkctl import __version__
from silkctl.config import ControllerConfig, DaemonConfig

DATE = "2026"


def _escape(text: str) -> str:
    lines = []
    for line in (text or "").replace("\\", "\\e").splitlines():
        line = line.rstrip()
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line.replace("-", "\\-"))
    return "\n".join(lines)


def _paragraphs(text: str) -> str:
    """Help text as roff: blank lines become .PP, indented blocks stay verbatim."""
    out, block = [], []
    for line in (text or "").strip().splitlines():
        if line.startswith("    "):
            block.append(line[4:])
            continue
        if block:
            out += [".PP", ".RS 4", ".nf", _escape("\n".join(block)), ".fi", ".RE"]
            block = []
        out.append(".PP" if not line.strip() else _escape(line))
    if block:
        out += [".PP", ".RS 4", ".nf", _escape("\n".join(block)), ".fi", ".RE"]
    return "\n".join(out)


def _params(command) -> list[str]:
    out = []
    for param in command.params:
        if param.name in ("install_completion", "show_completion"):
            continue
        if param.param_type_name == "argument":
            names = param.name.upper()
        else:
            names = ", ".join(param.opts + list(param.secondary_opts))
        out += [
            ".TP",
            f"\\fB{_escape(names)}\\fR",
            _escape(getattr(param, "help", "") or ""),
        ]
        default = getattr(param, "default", None)
        if param.param_type_name == "option" and default not in (
            None,
            False,
            0,
            "",
            (),
        ):
            out.append(f"(default: {_escape(str(default))})")
    return out


def _header(name: str, section: int, summary: str) -> list[str]:
    return [
        f'.TH "{name.upper()}" "{section}" "{DATE}" '
        f'"silkctl {__version__}" "silkctl manual"',
        ".SH NAME",
        f"{_escape(name)} \\- {_escape(summary)}",
    ]


def _summary(text: str) -> str:
    return (text or "").strip().splitlines()[0] if text else ""


def render_root(root) -> str:
    lines = _header("silkctl", 1, _summary(root.help))
    lines += [
        ".SH SYNOPSIS",
        "\\fBsilkctl\\fR [\\fIOPTIONS\\fR] \\fICOMMAND\\fR ...",
        ".SH DESCRIPTION",
        _paragraphs(root.help),
        ".SH OPTIONS",
        *_params(root),
        ".SH COMMANDS",
    ]
    for name, group in sorted(root.commands.items()):
        lines += [
            ".TP",
            f"\\fBsilkctl {name}\\fR",
            _escape(_summary(group.help)),
            f"See \\fBsilkctl\\-{name}\\fR(1).",
        ]
    lines += [
        ".SH SEE ALSO",
        ", ".join(f"\\fBsilkctl\\-{n}\\fR(1)" for n in sorted(root.commands))
        + ", \\fBsilkctl.conf\\fR(5)",
    ]
    return "\n".join(lines) + "\n"


def render_group(name: str, group) -> str:
    lines = _header(f"silkctl-{name}", 1, _summary(group.help))
    subcommands = getattr(group, "commands", None)
    if subcommands is None:
        lines += [
            ".SH SYNOPSIS",
            f"\\fBsilkctl {name}\\fR [\\fIOPTIONS\\fR]",
            ".SH DESCRIPTION",
            _paragraphs(group.help),
            ".SH OPTIONS",
            *_params(group),
        ]
    else:
        lines += [
            ".SH SYNOPSIS",
            f"\\fBsilkctl {name}\\fR \\fICOMMAND\\fR [\\fIOPTIONS\\fR]",
            ".SH DESCRIPTION",
            _paragraphs(group.help),
            ".SH COMMANDS",
        ]
        for sub_name, command in sorted(subcommands.items()):
            lines += [
                f'.SS "silkctl {name} {sub_name}"',
                _paragraphs(command.help),
                *_params(command),
            ]
    lines += [".SH SEE ALSO", "\\fBsilkctl\\fR(1)"]
    return "\n".join(lines) + "\n"


def render_conf() -> str:
    lines = _header("silkctl.conf", 5, "controller and daemon configuration files")
    lines += [
        ".SH DESCRIPTION",
        _escape(
            "Both files are JSON objects with the keys below; "
            "unknown keys are ignored. "
            "Each key can also be set by an environment variable SILKCTL_<KEY> "
            "(upper case), and the common ones by command-line options, which win."
        ),
    ]
    for title, model in (("CONTROLLER", ControllerConfig), ("DAEMON", DaemonConfig)):
        lines.append(f".SH {title}")
        for key, description, default in model.describe():
            lines += [
                ".TP",
                f"\\fB{_escape(key)}\\fR (default: {_escape(repr(default))})",
                _escape(description),
            ]
    lines += [".SH SEE ALSO", "\\fBsilkctl\\fR(1), \\fBsilkctl\\-config\\fR(1)"]
    return "\n".join(lines) + "\n"


def render_all() -> dict[str, str]:
    """File name → content for every page."""
    from silkctl.cli import app

    root = typer.main.get_command(app)
    pages = {"silkctl.1": render_root(root), "silkctl.conf.5": render_conf()}
    for name, group in root.commands.items():
        pages[f"silkctl-{name}.1"] = render_group(name, group)
    return pages


def write(directory: str) -> list[str]:
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render_all().items():
        (target / name).write_text(text, encoding="utf-8")
        written.append(name)
    return written


if __name__ == "__main__":
    print("\n".join(write(sys.argv[1] if len(sys.argv) > 1 else "man")))
