"""`python3 -m assay_plugin build`: a Python plugin and its `plugin.toml` into
one WebAssembly component.

1. Reads `plugin.toml` (name, version, kind, description, grants...).
2. Imports the plugin's module natively, to check it registers one plugin of
   that kind, and whether it has a `@prepare` (which picks the WIT world).
3. Runs componentize-py against the project's `wit/` (written by
   `assay plugin new`, or the repository's `wit/`), which generates the
   bindings from the WIT and compiles them, the SDK and the module. A probe
   is built for the probe world plus `wasi:http/outgoing-handler` (see
   `http_probe_wit`), which `assay_plugin.http` uses.
4. Appends `plugin.toml` to the component as its `assay:manifest` custom
   section, which `assay plugin inspect` shows and the host checks.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from . import _registry

MANIFEST_SECTION = "assay:manifest"
KINDS = ("validator", "probe", "router")
EXPORTS = {"validator": "Validation", "probe": "Probing", "router": "Routing"}


class BuildError(Exception):
    pass


def read_manifest(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            manifest = tomllib.load(f)
    except FileNotFoundError:
        raise BuildError(f"{path}: no plugin.toml (run `assay plugin new` for a template)") from None
    except tomllib.TOMLDecodeError as e:
        raise BuildError(f"{path}: not valid TOML: {e}") from None
    for key in ("name", "version", "kind"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise BuildError(f"{path}: `{key}` is missing (a string)")
    if manifest["kind"] not in KINDS:
        raise BuildError(f"{path}: kind = {manifest['kind']!r}, expected one of {', '.join(KINDS)}")
    return manifest


def world_for(kind: str, module: str) -> str:
    """Imports `module` natively and answers the WIT world it needs."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name == module:
            raise BuildError(f"no module {module!r} (a {module}.py beside plugin.toml)") from None
        raise
    p = _registry.current()
    if p is None:
        raise BuildError(f"module {module!r} registers no plugin: decorate its function with @assay.{kind}")
    if p.kind != kind:
        raise BuildError(f"plugin.toml says kind = {kind!r}, but module {module!r} registers a {p.kind}")
    if p.prepare is None:
        return kind
    if kind == "probe":
        raise BuildError("probes have no @prepare (only validators and routers do)")
    return f"prepared-{kind}"


HTTP_PROBE_WORLD = "http-probe"


def http_probe_wit(wit: Path, into: Path) -> Path:
    """A WIT directory whose world is the probe world plus
    `wasi:http/outgoing-handler`, for `assay_plugin.http`: `plugin.wit` as a
    dependency, beside the `wasi:http` WIT this SDK carries (`wasi/`, the
    version the host links)."""
    text = (wit / "plugin.wit").read_text()
    found = re.search(r"^package\s+(assay:plugin@[0-9][^;\s]*)\s*;", text, re.M)
    if not found:
        raise BuildError(f"{wit / 'plugin.wit'}: no `package assay:plugin@VERSION;` line")
    wasi = Path(__file__).resolve().parent / "wasi"
    http = (wasi / "http.wit").read_text()
    found_http = re.search(r"^package\s+(wasi:http@[0-9][^;\s]*)\s*;", http, re.M)
    if not found_http:
        raise BuildError(f"{wasi / 'http.wit'}: no `package wasi:http@VERSION;` line")
    package, http_package = found.group(1), found_http.group(1)
    name, version = http_package.split("@")
    deps = into / "deps"
    (deps / "assay-plugin").mkdir(parents=True)
    (deps / "assay-plugin" / "plugin.wit").write_text(text)
    for f in sorted(wasi.glob("*.wit")):
        shutil.copy(f, deps / f.name)
    (into / "http-probe.wit").write_text(
        "package assay:build;\n\n"
        "world " + HTTP_PROBE_WORLD + " {\n"
        f"    include {package.replace('@', '/probe@')};\n"
        f"    import {name}/outgoing-handler@{version};\n"
        "}\n"
    )
    return into


def _leb128(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def custom_section(name: str, payload: bytes) -> bytes:
    """A WebAssembly custom section (id 0); valid at a component's top level."""
    encoded = name.encode()
    body = _leb128(len(encoded)) + encoded + payload
    return b"\x00" + _leb128(len(body)) + body


def build(project: Path, wit: Path, out: Path | None, module: str) -> Path:
    manifest_path = project / "plugin.toml"
    manifest = read_manifest(manifest_path)
    sys.path.insert(0, str(project))
    world = world_for(manifest["kind"], module)
    if not (wit / "plugin.wit").is_file():
        raise BuildError(f"{wit}: no plugin.wit (`assay plugin wit {wit}` writes it)")
    out = out or project / f"{manifest['name']}.wasm"
    sdk_root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="assay-build-") as tmp:
        entry = Path(tmp) / "_assay_entry.py"
        lines = [
            "# Generated by `python3 -m assay_plugin build`.",
            f"import {module}  # registers the plugin",
            "from assay_plugin import _component",
            "_component.bind({!r}, {!r}, {!r})".format(
                manifest["name"], manifest["version"], manifest.get("description", "")
            ),
            f"from assay_plugin._component import {EXPORTS[manifest['kind']]}",
        ]
        if world.startswith("prepared-"):
            lines.append("from assay_plugin._component import WitWorld")
        if manifest["kind"] == "probe":
            lines.append("_component.install_system()")
            lines.append("_component.install_http()")
        entry.write_text("\n".join(lines) + "\n")
        built = Path(tmp) / "plugin.wasm"
        if manifest["kind"] == "probe":
            wit, world = http_probe_wit(wit, Path(tmp) / "wit"), HTTP_PROBE_WORLD
        cmd = [
            sys.executable, "-c",
            "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())",
            "-d", str(wit), "-w", world, "componentize", "_assay_entry",
            "-p", tmp, "-p", str(project), "-p", str(sdk_root), "-o", str(built),
        ]
        result = subprocess.run(cmd)
        if result.returncode != 0:
            raise BuildError(f"componentize-py failed (exit {result.returncode})")
        component = built.read_bytes() + custom_section(MANIFEST_SECTION, manifest_path.read_bytes())
    partial = out.with_name(out.name + ".part")
    partial.write_bytes(component)
    os.replace(partial, out)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m assay_plugin build",
        description="Build a Python plugin (plugin.toml + its module) into a WebAssembly component.",
    )
    parser.add_argument("project", nargs="?", default=".", help="the directory holding plugin.toml (default: .)")
    parser.add_argument("--module", default="plugin", help="the plugin's module (default: plugin, i.e. plugin.py)")
    parser.add_argument("--wit", help="the directory holding plugin.wit (default: PROJECT/wit)")
    parser.add_argument("-o", "--out", help="the component to write (default: PROJECT/NAME.wasm)")
    args = parser.parse_args(argv)
    project = Path(args.project).resolve()
    wit = Path(args.wit).resolve() if args.wit else project / "wit"
    try:
        out = build(project, wit, Path(args.out).resolve() if args.out else None, args.module)
    except BuildError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"built {out} ({out.stat().st_size // 1024} KiB)")
    return 0
