"""Every registered component and its hyperparameters, as data, text and Markdown.

``nngrid list`` prints :func:`catalog_text` (``--json``: :func:`catalog`), and
``nngrid list --markdown`` prints :func:`catalog_markdown`, the component tables of
config/README.md (a test keeps the README equal to it). All three read the declarations
(:meth:`nngrid.core.registry.Registry.hypers`), so a new component appears in each without an edit.
"""

from __future__ import annotations

from typing import Any

#: The kinds in config/README.md's tables (datasets have their own section there).
MARKDOWN_KINDS = (
    "activations",
    "initializers",
    "losses",
    "regularizers",
    "optimizers",
    "schedules",
    "layers",
)


def _plain(v: Any) -> Any:
    return list(v) if isinstance(v, tuple) else v


def catalog() -> dict[str, dict[str, dict[str, Any]]]:
    """``kind -> name -> parameter -> default`` for every registry (plugins included)."""
    from nngrid.plugins import registries

    return {
        kind: {name: {k: _plain(v) for k, v in reg.parameters(name).items()} for name in reg}
        for kind, reg in registries().items()
    }


def _describe(h: Any) -> str:
    rng = h.range_text()
    return f"{h.name}={_plain(h.default)!r} ({h.type_text()}{' in ' + rng if rng else ''})"


def catalog_text() -> str:
    """One line per component: its name and each hyperparameter with default, type, range."""
    from nngrid.plugins import registries

    lines = []
    for kind, reg in registries().items():
        lines.append(f"{kind}:")
        for name in reg:
            shown = ", ".join(_describe(h) for h in reg.hypers(name))
            size = _size_text(reg.get(name)) if kind == "datasets" else ""
            lines.append(f"  {name}" + (f"  ({shown})" if shown else "") + size)
    return "\n".join(lines)


def _size_text(entry: Any) -> str:
    """``  [150 samples x 4 features, 3 classes]`` for a dataset of fixed size, else ""."""
    size = getattr(entry, "SIZE", None)
    if size is None:
        return ""
    n, d, k = size
    task = getattr(entry, "task", "")
    out = f"{k} classes" if task == "classification" else f"{k} target{'s' * (k > 1)}"
    return f"  [{n} samples x {d} features, {out}]"


def _cell(value: Any) -> str:
    text = "none" if value is None else f"`{_plain(value)!r}`"
    return text.replace("|", "\\|")


def catalog_markdown(in_tree: bool = True) -> str:
    """The Markdown tables of :data:`MARKDOWN_KINDS`: a row per hyperparameter (a component
    without any gets one row of dashes). ``in_tree``: only the components nngrid ships (the
    README documents those; a plugin's appear in ``nngrid list``)."""
    from nngrid.plugins import registries

    out = []
    for kind in MARKDOWN_KINDS:
        reg = registries()[kind]
        out += [
            f"#### {kind}",
            "",
            "| name | parameter | type | default | range | meaning |",
            "|---|---|---|---|---|---|",
        ]
        for name in reg:
            if in_tree and not getattr(reg.get(name), "__module__", "").startswith("nngrid."):
                continue
            hypers = reg.hypers(name)
            if not hypers:
                out.append(f"| `{name}` | - | - | - | - | - |")
            for h in hypers:
                cells = [
                    f"`{name}`",
                    f"`{h.name}`",
                    h.type_text(),
                    _cell(h.default),
                    h.range_text() or "-",
                    h.help or "-",
                ]
                out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"
