"""The architecture as a test: packages import downwards only, library code never imports a
CLI helper, every BUILD declares exactly the packages its modules import, and modules stay
small (the root of lsg_tf at most 10 modules, none over 450 lines without a stated reason)."""

import ast
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Top to bottom; a module may import its own package and packages of lower layers only.
LAYERS = (
    ("//tools", "//bench"),  # tools/ (tools/attack_eval runs lsg_tf.attack_eval), bench/
    ("//lsg_tf:cli",),  # the verb CLIs
    ("//lsg_tf/cli",),  # helpers of the CLIs only
    ("//lsg_tf/reproduction",),
    ("//lsg_tf/training",),
    ("//lsg_tf/analysis", "//lsg_tf/robustness", "//lsg_tf/serving"),
    ("//lsg_tf/data", "//lsg_tf/reporting"),
    ("//lsg_tf/core/backbones",),
    ("//lsg_tf/core",),
    ("//lsg_tf:run_io", "//lsg_tf/flags"),
    ("//lsg_tf",),
)
RANK = {target: rank for rank, targets in enumerate(LAYERS) for target in targets}
# lsg_tf.load_model imports the core inside the function, so that `import lsg_tf` stays light.
ALLOWED_UPWARD = {("//lsg_tf", "//lsg_tf/core"), ("//lsg_tf", "//lsg_tf/core/backbones")}
ROOT_VERBS = ("train", "export", "report", "localize", "reproduce")

# Modules over 450 lines, each with its reason.
LONG_MODULES = {}
MAX_LINES = 450


def target_of(module: str) -> str:
    """The Bazel target holding ``module`` (``lsg_tf.core.gate`` -> ``//lsg_tf/core``)."""
    parts = module.split(".")
    path = os.path.join(ROOT, *parts)
    package = parts if os.path.isdir(path) else parts[:-1]
    if package == ["lsg_tf"]:
        name = "__init__" if os.path.isdir(path) else parts[-1]
        return {"__init__": "//lsg_tf", "run_io": "//lsg_tf:run_io"}.get(name, "//lsg_tf:cli")
    return "//" + "/".join(package)


def python_files(top: str):
    for folder, _, files in os.walk(os.path.join(ROOT, top)):
        for name in sorted(files):
            if name.endswith(".py"):
                yield os.path.join(folder, name)


def module_name(path: str) -> str:
    return os.path.relpath(path, ROOT)[:-len(".py")].replace(os.sep, ".").removesuffix(".__init__")


def project_imports(path: str):
    """The lsg_tf/tools/bench modules ``path`` imports, at any depth (imports in functions too)."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = []
            for alias in node.names:
                full = os.path.join(ROOT, *(node.module + "." + alias.name).split("."))
                is_module = os.path.isdir(full) or os.path.exists(full + ".py")
                names.append(node.module + "." + alias.name if is_module else node.module)
        else:
            continue
        yield from (n for n in names if n.split(".")[0] in ("lsg_tf", "tools", "bench"))


def _edges(tops=("lsg_tf", "tools", "bench")):
    edges = {}
    for top in tops:
        for path in python_files(top):
            source = target_of(module_name(path))
            for imported in project_imports(path):
                target = target_of(imported)
                if target != source:
                    edges.setdefault(source, {}).setdefault(target, set()).add(
                        os.path.relpath(path, ROOT))
    return edges


EDGES = _edges()


def test_every_package_has_a_layer():
    assert set(EDGES) | {t for targets in EDGES.values() for t in targets} <= set(RANK)


def test_imports_point_down_only():
    wrong = [f"{source} -> {target} ({', '.join(sorted(files))})"
             for source, targets in EDGES.items() for target, files in targets.items()
             if RANK[target] <= RANK[source] and (source, target) not in ALLOWED_UPWARD]
    assert not wrong, "imports that do not point to a lower layer:\n" + "\n".join(wrong)


def test_library_code_imports_no_cli_helper():
    wrong = [f for source, targets in EDGES.items() if RANK[source] > RANK["//lsg_tf/cli"]
             for target, files in targets.items() if target == "//lsg_tf/cli" for f in files]
    assert not wrong


def test_only_cli_modules_read_absl_flags():
    wrong = []
    for path in python_files("lsg_tf"):
        if target_of(module_name(path)) in ("//lsg_tf:cli", "//lsg_tf/cli"):
            continue
        with open(path) as f:
            if re.search(r"^\s*from absl import .*\bflags\b|flags\.FLAGS", f.read(), re.M):
                wrong.append(os.path.relpath(path, ROOT))
    assert not wrong


def test_the_root_holds_at_most_ten_modules():
    modules = sorted(f for f in os.listdir(os.path.join(ROOT, "lsg_tf")) if f.endswith(".py"))
    assert len(modules) <= 10, modules
    assert {f"{verb}.py" for verb in ROOT_VERBS} <= set(modules)


def test_no_module_over_the_line_limit_without_a_reason():
    long = {}
    for top in ("lsg_tf", "tools", "bench"):
        for path in python_files(top):
            with open(path) as f:
                lines = sum(1 for _ in f)
            if lines > MAX_LINES:
                long[os.path.relpath(path, ROOT)] = lines
    assert set(long) <= set(LONG_MODULES), {p: n for p, n in long.items() if p not in LONG_MODULES}


def _declared_deps(build_file: str, target: str) -> set:
    """The deps of ``target``'s package_library in a BUILD file (default name: the folder)."""
    with open(build_file) as f:
        text = f.read()
    folder = os.path.relpath(os.path.dirname(build_file), ROOT)
    package_label = "//" + folder
    for call in re.finditer(r"package_library\((.*?)\n\)|package_library\((deps = \[.*?\])\)",
                            text, re.S):
        body = call.group(1) or call.group(2)
        name = re.search(r'name = "(\w+)"', body)
        label = f"{package_label}:{name.group(1)}" if name else package_label
        if label == f"{package_label}:{os.path.basename(folder)}":
            label = package_label
        if label == target:
            deps = re.search(r"deps = \[(.*?)\]", body, re.S)
            found = set(re.findall(r'"([^"]+)"', deps.group(1))) if deps else set()
            return {_normalized(f"{package_label}{d}" if d.startswith(":") else d) for d in found}
    raise AssertionError(f"{build_file}: no package_library for {target}")


def _normalized(label: str) -> str:
    """``//a/b:b`` -> ``//a/b`` (a package's default target)."""
    package, _, name = label.partition(":")
    return package if name == package.rsplit("/", 1)[-1] else label


def _build_file(target: str) -> str:
    return os.path.join(ROOT, target[2:].split(":")[0], "BUILD")


@pytest.mark.parametrize("target", sorted(RANK))
def test_build_deps_are_the_imports(target):
    imported = set(EDGES.get(target, {}))
    declared = _declared_deps(_build_file(target), target)
    # Every module needs the package's __init__.py: //lsg_tf may be declared without an import.
    missing = imported - declared - ({"//lsg_tf/core", "//lsg_tf/core/backbones"}
                                     if target == "//lsg_tf" else set())
    assert not missing, f"{_build_file(target)}: deps lack {sorted(missing)}"
    extra = declared - imported - {"//lsg_tf"}
    assert not extra, f"{_build_file(target)}: deps not imported: {sorted(extra)}"


def test_test_folders_declare_what_they_import():
    for folder in sorted(os.listdir(os.path.join(ROOT, "tests"))):
        path = os.path.join(ROOT, "tests", folder)
        if not os.path.isdir(path) or folder.startswith((".", "__")):
            continue
        with open(os.path.join(path, "BUILD")) as f:
            declared = set(re.findall(r'"(//[^"]+)"',
                                      f.read().split("deps = [", 1)[1].split("]")[0]))
        imported = {target_of(m) for p in python_files(os.path.join("tests", folder))
                    for m in project_imports(p)}
        assert imported <= declared, (
            f"tests/{folder}/BUILD: deps lack {sorted(imported - declared)}")


def test_tests_mirror_the_package():
    packages = {os.path.basename(os.path.dirname(p)) for p in python_files("lsg_tf")
                if p.endswith("__init__.py")} - {"lsg_tf"}
    folders = set(os.listdir(os.path.join(ROOT, "tests")))
    assert packages - {"backbones"} <= folders, sorted(packages - folders)
    stray = [f for f in os.listdir(os.path.join(ROOT, "tests"))
             if f.startswith("test_") and f != os.path.basename(__file__)]
    assert not stray, f"test files outside a package folder: {stray}"


def test_test_file_names_are_unique():
    """pytest imports test files by their base name (no __init__.py in the folders)."""
    names = [os.path.basename(p) for p in python_files("tests")]
    repeated = sorted({n for n in names if names.count(n) > 1 and n != "BUILD"})
    assert not repeated, f"test modules with the same name in two folders: {repeated}"
