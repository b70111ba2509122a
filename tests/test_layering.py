"""Dependencies point one way (docs/architecture.md): every import of every package module,
top-level or inside a function, is checked against the table there."""

import ast
from pathlib import Path

import pytest

import nmt

ROOT = Path(nmt.__file__).parent
# A family module may import these modules of models/ besides itself (same family or the contract).
SAME_FAMILY = {"char_qrnn": {"qrnn"}, "fairseq_import": {"convs2s"}}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(imported module, names imported from it) for every import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            base = ROOT.parent / node.module.replace(".", "/")
            names = [alias.name for alias in node.names]
            # `from nmt.models import lstm` imports the module nmt.models.lstm
            submodules = [n for n in names
                          if (base / f"{n}.py").exists() or (base / n / "__init__.py").exists()]
            found += [(f"{node.module}.{n}", []) for n in submodules]
            if len(submodules) < len(names):
                found.append((node.module, [n for n in names if n not in submodules]))
    return [(m, n) for m, n in found if m == "nmt" or m.startswith("nmt.")]


PACKAGE_FILES = sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def files_under(prefix: str) -> list[Path]:
    return [p for p in PACKAGE_FILES if module_name(p).startswith(prefix)]


def allowed(target: str, prefixes: tuple[str, ...]) -> bool:
    return any(target == p or target.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize("package, may_import", [
    ("nmt.modules", ("nmt.modules", "nmt.errors")),
    ("nmt.models", ("nmt.models", "nmt.modules", "nmt.data.dictionary", "nmt.errors")),
    ("nmt.checkpoint", ("nmt.checkpoint", "nmt.data.files", "nmt.errors")),
    ("nmt.search", ("nmt.search", "nmt.models.base", "nmt.data.dictionary", "nmt.errors",
                    "nmt.modules.native")),  # builds and loads its C++ kernel, as training does
    ("nmt.api", ("nmt.translation", "nmt.search", "nmt.heap", "nmt.errors")),
    ("nmt.heap", ()),
    ("nmt.serve", ("nmt.serve", "nmt.api", "nmt.errors")),
    ("nmt.translation", ("nmt.checkpoint", "nmt.data", "nmt.models", "nmt.modules", "nmt.registry",
                         "nmt.search", "nmt.errors")),
])
def test_a_package_imports_only_what_the_table_allows(package, may_import):
    bad = [(module_name(p), m) for p in files_under(package) for m, _ in imports(p)
           if not allowed(m, may_import)
           and not (m == "nmt" and package == "nmt.checkpoint")]  # nmt.__version__
    assert not bad


def test_a_family_never_imports_another_family():
    bad = []
    for path in files_under("nmt.models"):
        family = path.stem
        for target, _ in imports(path):
            if not target.startswith("nmt.models."):
                continue
            other = target.split(".")[2]
            if other not in {family, "base"} | SAME_FAMILY.get(family, set()):
                bad.append((family, target))
    assert not bad


def test_translation_and_checkpoints_never_import_training():
    paths = (files_under("nmt.checkpoint") + files_under("nmt.translation")
             + files_under("nmt.search") + files_under("nmt.api"))
    assert not [(module_name(p), m) for p in paths for m, _ in imports(p)
                if m.startswith("nmt.training")]


def test_no_cli_module_uses_another_ones_private_names():
    bad = []
    for path in files_under("nmt.cli"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases = {}  # local name -> cli module it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nmt.cli"):
                bad += [(path.stem, node.module, a.name) for a in node.names
                        if a.name.startswith("_")]
                if node.module == "nmt.cli":
                    aliases.update({a.asname or a.name: a.name for a in node.names})
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")):
                bad.append((path.stem, aliases[node.value.id], node.attr))
    assert not bad


def test_the_checker_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from nmt.training import trainer\n    import nmt.search\n")
    assert ("nmt.training.trainer", []) in imports(f) and ("nmt.search", []) in imports(f)
