#!/usr/bin/env python3
"""Fails when a module of src/ includes or links a module it must not.

The rule is docs/architecture.md's "Modules": dependencies point one way,
down. ALLOWED below is that table; an #include "X/..." in src/M/ or a
jobwarden_X in src/M/CMakeLists.txt for an X that M may not use is an error
that names the file and line. Run by ctest (label unit) and so by CI.

Usage: check_layers.py [SOURCE_DIR]
"""
import pathlib
import re
import sys

# module -> modules it may use directly (its own is always allowed).
ALLOWED = {
    "core": set(),
    "os": {"core"},
    "net": {"core"},
    "protocol": {"core"},
    "config": {"core"},
    "store": {"core"},
    "store/sqlite": {"store", "core"},
    "engine": {"store", "os", "core"},
    "worker": {"protocol", "config", "os", "core"},
    "client": {"protocol", "net", "os", "core"},
    "server": {"engine", "store", "protocol", "config", "net", "core"},
    "app": {"server", "client", "worker", "engine", "store", "store/sqlite", "protocol", "config", "net", "os", "core"},
    "cli": {"app", "client", "worker", "engine", "store", "protocol", "config", "os", "core"},
}
# Files a module may reach beyond its table, each with the reason.
EXCEPTIONS = {
    # OpenStore(url) is the one place that knows every driver.
    ("store", "store/sqlite"): {"src/store/open_store.cc"},
    # `up` reads [server] to pick the token its supervised workers present.
    ("cli", "server"): {"src/cli/worker_commands.cc"},
}
# CMake targets -> module.
TARGETS = {
    "jobwarden_core": "core", "jobwarden_os": "os", "jobwarden_net": "net", "jobwarden_protocol": "protocol",
    "jobwarden_config": "config", "jobwarden_store": "store", "jobwarden_store_sqlite": "store/sqlite",
    "jobwarden_store_open": "store", "jobwarden_engine": "engine", "jobwarden_worker": "worker",
    "jobwarden_client": "client", "jobwarden_server": "server", "jobwarden_app": "app",
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def module_of(rel: pathlib.PurePosixPath) -> str:
    parts = rel.parts  # ("src", "store", "sqlite", "x.cc")
    if parts[1] == "store" and len(parts) > 3 and parts[2] == "sqlite":
        return "store/sqlite"
    return parts[1]


def included_module(path: str):
    parts = path.split("/")
    if len(parts) < 2:
        return None
    if parts[0] == "store" and len(parts) > 2 and parts[1] == "sqlite":
        return "store/sqlite"
    if parts[0] == "generated" and parts[1] == "store":
        return "store/sqlite"
    return parts[0] if parts[0] in ALLOWED else None


def allowed(src_module: str, dep: str, rel: str) -> bool:
    if dep == src_module or dep in ALLOWED[src_module]:
        return True
    return rel in EXCEPTIONS.get((src_module, dep), set())


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
    errors = []
    for f in sorted((root / "src").rglob("*")):
        if f.suffix not in {".h", ".cc"}:
            continue
        rel = pathlib.PurePosixPath(f.relative_to(root).as_posix())
        mod = module_of(rel)
        if mod not in ALLOWED:
            errors.append(f"{rel}: module '{mod}' is not in scripts/check_layers.py's table")
            continue
        for n, line in enumerate(f.read_text().splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            dep = included_module(m.group(1))
            if dep is not None and not allowed(mod, dep, str(rel)):
                errors.append(f"{rel}:{n}: {mod} must not include {m.group(1)} (module {dep})")
    for cm in sorted((root / "src").rglob("CMakeLists.txt")):
        rel = pathlib.PurePosixPath(cm.relative_to(root).as_posix())
        text = cm.read_text()
        # Each add_library/add_executable's own target_link_libraries call.
        for call in re.finditer(r"target_link_libraries\(\s*(\w+)([^)]*)\)", text):
            target, deps = call.group(1), call.group(2)
            mod = TARGETS.get(target)
            if target == "jobwarden":
                mod = "cli"
            if mod is None:
                continue
            for dep_target in re.findall(r"\bjobwarden_\w+", deps):
                dep = TARGETS.get(dep_target)
                if dep is not None and not allowed(mod, dep, "src/store/open_store.cc" if target == "jobwarden_store_open" else ""):
                    errors.append(f"{rel}: {target} ({mod}) must not link {dep_target} ({dep})")
    for e in errors:
        print(e)
    print(f"check_layers: {len(errors)} violation(s)" if errors else "check_layers: every module depends only downward")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
