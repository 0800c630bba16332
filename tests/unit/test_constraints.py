"""deploy/constraints.txt and pyproject.toml agree, so CI, the venv and the image install one set.

pyproject.toml states lower bounds; deploy/constraints.txt pins the exact versions tested. A
dependency added, dropped or bumped on one side only fails here, with the line to change.
"""

from __future__ import annotations

import difflib
import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
CONSTRAINTS = REPO / "deploy" / "constraints.txt"


def _pins() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for number, raw in enumerate(CONSTRAINTS.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        assert sep, f"constraints.txt:{number}: not name==version: {raw!r}"
        assert name.strip(), f"constraints.txt:{number}: no name: {raw!r}"
        assert version.strip(), f"constraints.txt:{number}: no version: {raw!r}"
        key = canonicalize_name(name.strip())
        assert key not in pins, f"constraints.txt:{number}: {key} is pinned twice"
        pins[key] = Version(version.strip())
    return pins


def _project_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in project.get("optional-dependencies", {}).values():
        reqs += [Requirement(r) for r in extra]
    return reqs


def _pin_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pin_constraints", REPO / "tools" / "pin_constraints.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_pyproject_dependency_is_pinned_within_its_bounds() -> None:
    pins = _pins()
    problems = []
    for req in _project_requirements():
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            problems.append(f"{req} is in pyproject.toml but not pinned in deploy/constraints.txt")
        elif not req.specifier.contains(pin, prereleases=True):
            problems.append(f"{req.name}=={pin} in deploy/constraints.txt is outside pyproject.toml's {req}")
    assert not problems, "\n".join(problems)


def test_constraints_pin_exactly_what_the_project_installs() -> None:
    """Regenerated from the venv (installed with -c constraints.txt), the file comes out unchanged:
    nothing unpinned slipped in, nothing stale stayed, no version drifted."""
    expected = _pin_tool().render()
    actual = CONSTRAINTS.read_text()
    diff = "".join(
        difflib.unified_diff(
            actual.splitlines(keepends=True),
            expected.splitlines(keepends=True),
            "deploy/constraints.txt",
            "what the venv resolves",
        )
    )
    assert not diff, f"deploy/constraints.txt is out of date (`make constraints` rewrites it):\n{diff}"


def test_the_image_dependencies_are_a_pinned_subset() -> None:
    """The image installs pyproject's runtime dependencies with -c: every one resolves to a pin."""
    runtime, extra = _pin_tool().pins()
    pins = _pins()
    assert set(runtime) | set(extra) == set(pins)
    assert {name: Version(v) for name, v in runtime.items()} == {name: pins[name] for name in runtime}
    assert "kopf" in runtime
    assert "pytest" not in runtime
    assert "ruff" not in runtime
