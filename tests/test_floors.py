"""The app floors of ARCHITECTURE.md: an app imports only apps on its own floor or below, and apps form no cycle.

FLOORS is the one list of the floors; a new app gets its floor here before it may exist under apps/.
"""

import ast
from pathlib import Path

import pytest

FLOORS = {
    "core": 0, "accounts": 0, "projects": 0,
    "datasets": 1, "prompts": 1, "llm": 1,
    "runs": 2,
    "review": 3,
    "tuning": 4, "evals": 4,
    "deployments": 5,
    "demo": 6,
}
APPS = Path(__file__).resolve().parents[1] / "apps"


def imported_apps(path: Path, apps_root: Path) -> list[tuple[int, str]]:
    """(line, app) for each import in the module of another app of apps/ (absolute, or relative across apps)."""
    found = []
    depth = len(path.relative_to(apps_root).parts) - 1  # folders between apps/ and the module
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif isinstance(node, ast.ImportFrom) and node.level > depth:
            names = ["apps." + (node.module or "")]  # `from ...runs import x` from apps/review/x.py
        else:
            continue
        for name in names:
            bits = name.split(".")
            if len(bits) >= 2 and bits[0] == "apps" and bits[1]:
                found.append((node.lineno, bits[1]))
    return found


def app_imports(apps_root: Path) -> dict[str, dict[str, str]]:
    """{app: {imported app: "path:line" of its first import}}, migrations left out."""
    edges: dict[str, dict[str, str]] = {}
    for path in sorted(apps_root.rglob("*.py")):
        parts = path.relative_to(apps_root).parts
        if len(parts) < 2 or "migrations" in parts:
            continue
        app = parts[0]
        for line, other in imported_apps(path, apps_root):
            if other != app:
                edges.setdefault(app, {}).setdefault(other, f"{path.relative_to(apps_root.parent)}:{line}")
    return edges


def upward_imports(edges, floors) -> list[str]:
    return [f"{where}: {app} (floor {floors[app]}) imports {other} (floor {floors[other]})"
            for app, targets in edges.items() for other, where in targets.items()
            if app in floors and other in floors and floors[other] > floors[app]]


def cycles(edges) -> list[list[str]]:
    """Each cycle between apps once, as the list of apps along it."""
    found, seen = [], set()

    def walk(path):
        for nxt in sorted(edges.get(path[-1], {})):
            if nxt == path[0]:
                key = frozenset(path)
                if key not in seen:
                    seen.add(key)
                    found.append(path + [nxt])
            elif nxt not in path and nxt > path[0]:  # start each cycle at its smallest app
                walk(path + [nxt])

    for app in sorted(edges):
        walk([app])
    return found


def test_every_app_has_a_floor():
    apps = {p.name for p in APPS.iterdir() if (p / "apps.py").exists()}
    assert apps - FLOORS.keys() == set(), "give each new app its floor in FLOORS (and in ARCHITECTURE.md)"


def test_no_app_imports_a_higher_floor():
    assert upward_imports(app_imports(APPS), FLOORS) == []


def test_apps_form_no_import_cycle():
    assert cycles(app_imports(APPS)) == []


@pytest.fixture
def toy_apps(tmp_path):
    """apps/ with projects importing datasets (upward) and datasets and prompts importing each other (a cycle)."""
    apps = tmp_path / "apps"

    def module(path, text):
        (apps / path).parent.mkdir(parents=True, exist_ok=True)
        (apps / path).write_text(text)

    module("projects/views.py", "from apps.datasets.selectors import datasets_of\n")
    module("datasets/services.py", "import apps.prompts.models\nfrom apps.projects.models import Project\n")
    module("prompts/templatetags/tags.py", "from ...datasets import selectors\n")
    module("prompts/services.py", "from .models import PromptVersion\nfrom apps.core.exceptions import E\n")
    module("prompts/migrations/0001_initial.py", "from apps.runs.models import Run\n")
    return apps


def test_the_checks_find_an_upward_import_and_a_cycle(toy_apps):
    edges = app_imports(toy_apps)
    assert edges == {
        "projects": {"datasets": "apps/projects/views.py:1"},
        "datasets": {"prompts": "apps/datasets/services.py:1", "projects": "apps/datasets/services.py:2"},
        "prompts": {"datasets": "apps/prompts/templatetags/tags.py:1", "core": "apps/prompts/services.py:2"},
    }
    assert upward_imports(edges, FLOORS) == ["apps/projects/views.py:1: projects (floor 0) imports datasets (floor 1)"]
    assert cycles(edges) == [["datasets", "projects", "datasets"], ["datasets", "prompts", "datasets"]]
