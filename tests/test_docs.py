"""Every configuration key is documented in README's configuration reference, and config.yaml stays valid."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    keys: list[str] = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.extend(_keys(annotation, f"{prefix}{name}."))
        else:
            keys.append(prefix + name)
    return keys


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [key for key in _keys(Settings) if f"| `{key}` |" not in readme]
    assert missing == [], f"document these keys in README's configuration table: {missing}"


def test_readme_documents_no_setting_that_does_not_exist() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = {line.split("`")[1] for line in table.splitlines() if line.startswith("| `")}
    assert documented - set(_keys(Settings)) == set()


def test_policy_map_points_at_real_tests() -> None:
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Privacy policy map", 1)[1]
    refs = re.findall(r"`(tests/[\w/]+\.py)(?:::(test_\w+))?`", table)
    assert len(refs) >= 15
    last_file = ""
    for path, name in refs:
        last_file = path or last_file
        source = (ROOT / last_file).read_text(encoding="utf-8")
        if name:
            assert f"def {name}(" in source, f"{last_file}::{name} does not exist"
    for name in re.findall(r"`::(test_\w+)`", table):  # "::name" continues the file named before it
        assert any(f"def {name}(" in (ROOT / p).read_text(encoding="utf-8") for p, _ in refs), name


def test_core_packages_import_only_those_listed_above_them_in_the_readme() -> None:
    """README's table of `bot/core/` packages is also the layering: a package may import the ones in rows above it
    (and, in a row naming several, the ones named before it). Every package must be in the table."""
    import re

    import grimp

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| package | what it holds |") : text.index("Each package imports only packages listed above")]
    order: list[str] = []
    for line in table.splitlines()[2:]:
        if line.startswith("|"):
            order += re.findall(r"`(?:bot/core/)?([a-z_]+)/`", line.split("|")[1])
    core = ROOT / "bot" / "core"
    packages = sorted(p.name for p in core.iterdir() if (p / "__init__.py").exists())
    assert sorted(order) == packages, "README's package table must list every package of bot/core exactly once"
    rank = {name: i for i, name in enumerate(order)}
    graph = grimp.build_graph("bot")
    upward = set()
    for module in graph.modules:
        if not module.startswith("bot.core.") or module.count(".") < 2:
            continue
        source = module.split(".")[2]
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith("bot.core.") and (target := imported.split(".")[2]) != source and target in rank:
                if rank[target] > rank[source]:
                    upward.add(f"{module} imports {imported}")
    assert not upward, sorted(upward)
