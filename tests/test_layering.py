"""The layers point one way, `cogs` → `bot` → `storage`, checked on the source with `ast`.

- Nothing under `cogs/` imports `storage`: cogs read and change jobs through `bot/`.
- Nothing under `bot/` imports `cogs` (the bot loads the extension by name).
- `storage/` imports neither `bot` nor `cogs`.
- The ComfyUI client, the workflow templates, the scheduler and `wanbot generate` never import
  discord, not even through a module they import: they run without Discord.

Every import statement of a module counts against the module itself (inside functions and
`TYPE_CHECKING` blocks too); what a module pulls in through others is followed through the
imports that run at import time (module and class level, outside `TYPE_CHECKING`).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "cogs", "storage")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {
    _module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))
}


def _modules_under(package: str) -> list[str]:
    return [name for name in MODULES if name == package or name.startswith(package + ".")]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST, *, at_import: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under `node`, or (`at_import`) those that run when the module
    is imported."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
        return
    if at_import and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        return  # runs when called
    children: list[ast.stmt] | list[ast.AST] = list(ast.iter_child_nodes(node))
    if at_import and isinstance(node, ast.If) and _is_type_checking(node.test):
        children = node.orelse
    for child in children:
        yield from _import_nodes(child, at_import=at_import)


def imports_of(module: str, *, at_import: bool = False) -> set[str]:
    """The absolute names `module` imports (for `from a import b`: `a`, and `a.b` when that is
    a module of ours)."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8")), at_import=at_import):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES)
    return found


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def import_chain(start: str, forbidden: str) -> list[str] | None:
    """How `start` comes to import `forbidden` (a chain of module names), or None if it never
    does: its own imports, then what the modules of ours among them import at import time
    (importing `a.b.c` runs `a` and `a.b` first)."""
    via: dict[str, str | None] = {start: None}
    todo = [start]
    while todo:
        module = todo.pop()
        for name in sorted(imports_of(module, at_import=module != start)):
            for step in _with_parents(name):
                if step in via:
                    continue
                via[step] = module
                if step == forbidden:
                    chain = [step]
                    while (parent := via[chain[-1]]) is not None:
                        chain.append(parent)
                    return chain[::-1]
                if step in MODULES:
                    todo.append(step)
    return None


def _importing(modules: list[str], forbidden: str) -> dict[str, list[str]]:
    """Each module among `modules` that itself imports `forbidden` (or a part of it)."""
    hits = {}
    for module in modules:
        names = sorted(n for n in imports_of(module) if n == forbidden or n.startswith(forbidden + "."))
        if names:
            hits[module] = names
    return hits


def test_cogs_never_import_storage() -> None:
    assert _importing(_modules_under("cogs"), "storage") == {}


def test_bot_never_imports_cogs() -> None:
    assert _importing(_modules_under("bot"), "cogs") == {}


@pytest.mark.parametrize("layer", ["bot", "cogs"])
def test_storage_imports_no_layer_above_it(layer: str) -> None:
    assert _importing(_modules_under("storage"), layer) == {}


DISCORD_FREE = sorted(
    {*_modules_under("bot.comfy"), *_modules_under("bot.workflows"), "bot.jobs.scheduler", "bot.cli.generate"}
)


@pytest.mark.parametrize("module", DISCORD_FREE)
def test_runs_without_discord(module: str) -> None:
    assert import_chain(module, "discord") is None


def test_the_inspection_sees_imports_through_other_modules() -> None:
    """The checks above would pass vacuously if the inspection missed imports."""
    assert import_chain("bot.app", "discord") == ["bot.app", "discord"]
    # bot.services -> bot.comfy.backend (which runs bot/comfy/__init__) -> ... -> aiohttp
    chain = import_chain("bot.services", "storage")
    assert chain is not None and chain[0] == "bot.services" and chain[-1] == "storage"
    assert import_chain("cogs.queue", "discord") is not None
    assert _importing(_modules_under("bot.jobs"), "storage")  # bot/ may use the store
    # Lazy imports inside functions count for the module itself, not for its importers.
    assert "bot.cli.run" in imports_of("bot.cli") and "bot.cli.run" not in imports_of("bot.cli", at_import=True)
    # `if TYPE_CHECKING:` imports are not run at import time.
    assert "bot.app" in imports_of("cogs.queue") and "bot.app" not in imports_of("cogs.queue", at_import=True)
