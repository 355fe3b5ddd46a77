"""Is each of traindoc's four top-level packages traindoc's own?

traindoc keeps the folders its author chose (`assistant/`, `rules/`, `probes/`, `tui/`) as top-level
packages. Those names are generic: a `rules.py` or `probes/` in the working directory, or another
distribution that installs a package of the same name (django-rules installs `rules`), wins the import
and breaks traindoc far from the cause. This check runs before anything imports them (`python -m
traindoc`, the `traindoc` command, `import traindoc`'s names) and turns a shadowed package into one line
naming the file and the fix. It imports nothing: it asks the import system where each name WOULD come
from and compares that with the folder next to this package.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from traindoc.errors import ShadowedPackageError as ShadowedPackageError  # re-exported: its old home

PACKAGES = ("assistant", "rules", "probes", "tui")
# every one of the four packages' __init__.py assigns this name; another package of the same name
# installed over ours in the same site-packages folder replaces the file and loses it
MARKER = "__traindoc__"
ROOT = Path(__file__).resolve().parent.parent

FIX = (
    "rename or move it, or install traindoc in its own environment "
    "(pipx install traindoc, or uv tool install traindoc)"
)


def origin_of(name: str) -> str | None:
    """The file `import name` gives (or would give), without importing it."""
    module = sys.modules.get(name)
    if module is not None:
        found = getattr(module, "__file__", None)
        locations = list(getattr(module, "__path__", []) or [])
    else:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        found = spec.origin if spec.has_location else None
        locations = list(spec.submodule_search_locations or [])
    # a folder without __init__.py is a namespace package: it has no file, only a location
    return found or (locations[0] if locations else None)


def problem(name: str) -> str | None:
    """None when `name` is traindoc's own package, else the one-line reason."""
    expected = ROOT / name / "__init__.py"
    origin = origin_of(name)
    if origin is None:
        if not expected.is_file():
            return f"traindoc's package {name!r} is missing ({expected.parent}): reinstall traindoc"
        return f"another importer hides traindoc's package {name!r}: {FIX}"
    found = Path(origin).resolve()
    if found != expected:
        return f"{_shown(found)} shadows traindoc's package {name!r}: {FIX}"
    module = sys.modules.get(name)
    own = hasattr(module, MARKER) if module is not None else MARKER in _text(found)
    if not own:
        return (
            f"{_shown(found)} is not traindoc's package {name!r} (another distribution installed over it): "
            "reinstall traindoc in its own environment (pipx install traindoc, or uv tool install traindoc)"
        )
    return None


def check_packages(names: tuple[str, ...] = PACKAGES) -> None:
    """Raise ShadowedPackageError naming the first package that is not traindoc's own."""
    for name in names:
        reason = problem(name)
        if reason is not None:
            raise ShadowedPackageError(reason, name)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _shown(path: Path) -> str:
    """A path relative to the working directory when it lies below it (the usual culprit)."""
    try:
        return "./" + str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
