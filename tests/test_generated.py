"""generated/ must match proto/ (both trees: the cloud's limiquantix.network.v1 and our own
quantix.lb.v1, and the TypeScript client of the public one), and the proto must pass buf lint.

generated/ holds only generated code, byte for byte what buf makes, and the hand-written
package manifests of the SDKs made from it (MANIFESTS), which scripts/gen-proto keeps."""

import filecmp
import json
import os
import shutil
import subprocess
import tomllib
from pathlib import Path

from conftest import ROOT

BUF = ROOT / ".venv" / "bin" / "buf"
PROTOC_GEN_ES = ROOT / "web" / "node_modules" / ".bin" / "protoc-gen-es"
# The proto trees generated/ is made from, and what each must yield.
TREES = ("limiquantix", "quantix")
# The TypeScript client (@quantix-lb/client): the public tree only, with the google.api
# annotations it imports.
TS = Path("ts")
# Hand-written, not generated: the SDKs' package manifests.
MANIFESTS = {
    TS / "package.json",
    TS / "README.md",
    Path("pyproject.toml"),  # the Python client's, where there is one
}
EXPECTED = {
    Path("limiquantix/network/v1/network_pb2.py"),
    Path("limiquantix/network/v1/network_pb2.pyi"),
    Path("limiquantix/network/v1/network_service_pb2.py"),
    Path("limiquantix/network/v1/network_service_pb2.pyi"),
    Path("limiquantix/network/v1/network_service_pb2_grpc.py"),
    Path("limiquantix/network/v1/network_service_connect.py"),
    Path("quantix/lb/v1/health_worker_pb2.py"),
    Path("quantix/lb/v1/health_worker_pb2.pyi"),
    Path("quantix/lb/v1/health_worker_pb2_grpc.py"),
    Path("quantix/lb/v1/health_worker_connect.py"),
    *(
        TS / f"{stem}.{ext}"
        for stem in (
            "limiquantix/network/v1/network_pb",
            "limiquantix/network/v1/network_service_pb",
            "google/api/annotations_pb",
            "google/api/http_pb",
        )
        for ext in ("js", "d.ts")
    ),
}


def _buf(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BUF), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def _files(tree: Path) -> list[Path]:
    """The generated files under `tree` (not the manifests, caches or installed packages)."""
    return sorted(
        rel
        for p in tree.rglob("*")
        if p.is_file()
        and not {"__pycache__", "node_modules"} & set(p.parts)
        and (rel := p.relative_to(tree)) not in MANIFESTS
    )


def _stale(fresh: Path, committed: Path) -> list[str]:
    """Files of `committed` whose content differs from `fresh` (same file lists assumed)."""
    return [str(f) for f in _files(fresh) if not filecmp.cmp(fresh / f, committed / f, shallow=False)]


def test_buf_lint_passes():
    result = _buf("lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_proto_tree_is_generated():
    protos = {p.relative_to(ROOT / "proto") for p in (ROOT / "proto").rglob("*.proto")}
    ours = {p for p in protos if p.parts[0] in TREES}
    assert {p.parts[0] for p in ours} == set(TREES), protos
    # Each of our protos has its module in generated/ (google/ is vendored: its modules come
    # from googleapis-common-protos).
    generated = set(_files(ROOT / "generated"))
    for proto in ours:
        assert proto.with_name(proto.stem + "_pb2.py") in generated, proto
    assert generated >= EXPECTED, sorted(EXPECTED - generated)
    assert {p.parts[0] for p in generated} == {*TREES, str(TS)}, "generated/ holds only our trees"
    # The TypeScript client is the public API only: nothing of the workers' protocol.
    ts = {p.relative_to(TS) for p in generated if p.parts[0] == str(TS)}
    assert {p.parts[0] for p in ts} == {"limiquantix", "google"}, sorted(ts)


def test_typescript_client_is_a_package():
    """generated/ts/package.json publishes what buf generates, under the project's version,
    and every module its exports name exists."""
    manifest = json.loads((ROOT / "generated" / TS / "package.json").read_text())
    assert manifest["name"] == "@quantix-lb/client"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert manifest["version"] == project["version"]
    assert set(manifest["peerDependencies"]) == {"@bufbuild/protobuf"}
    for subpath, target in manifest["exports"].items():
        if "*" not in subpath:
            for file in target.values():
                assert (ROOT / "generated" / TS / file).is_file(), (subpath, file)
    # The generator the client is made with is the one the manifest asks users for.
    web = json.loads((ROOT / "web" / "package.json").read_text())
    assert web["devDependencies"]["@bufbuild/protoc-gen-es"] == web["dependencies"]["@bufbuild/protobuf"]
    assert (
        manifest["peerDependencies"]["@bufbuild/protobuf"] == "^" + web["dependencies"]["@bufbuild/protobuf"]
    )


def test_generated_code_is_current(tmp_path: Path):
    assert PROTOC_GEN_ES.exists(), "web/node_modules is missing: run scripts/setup"
    result = _buf("generate", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    fresh = tmp_path / "generated"
    committed = ROOT / "generated"
    fresh_files = _files(fresh)
    assert set(fresh_files) >= EXPECTED, "buf.gen.yaml must generate both proto trees"
    assert fresh_files == _files(committed), "generated/ has other files; run scripts/gen-proto"
    stale = _stale(fresh, committed)
    assert not stale, f"generated/ is stale against proto/ ({stale}); run scripts/gen-proto"


def test_gen_proto_regenerates_both_trees_and_drops_leftovers(tmp_path: Path):
    """scripts/gen-proto, run on a copy of the repository whose generated/ has a stale and a
    left-over module in each tree, gives exactly the committed generated/, manifests kept."""
    work = tmp_path / "repo"
    work.mkdir()
    for name in ("buf.yaml", "buf.gen.yaml"):
        shutil.copy2(ROOT / name, work / name)
    for name in ("proto", "scripts", "generated"):
        shutil.copytree(
            ROOT / name, work / name, ignore=shutil.ignore_patterns("__pycache__", "node_modules")
        )
    (work / ".venv").symlink_to(ROOT / ".venv")
    (work / "web").mkdir()
    (work / "web" / "node_modules").symlink_to(ROOT / "web" / "node_modules")
    for tree, module in (
        ("limiquantix", "network/v1/network_pb2.py"),
        ("quantix", "lb/v1/health_worker_pb2.py"),
        ("ts", "limiquantix/network/v1/network_pb.js"),
    ):
        (work / "generated" / tree / module).write_text("# stale\n")
        leftover = work / "generated" / tree / "old" / "v0" / "gone_pb2.py"
        leftover.parent.mkdir(parents=True)
        leftover.write_text("# from a proto that no longer exists\n")
    manifests = {
        m: (ROOT / "generated" / m).read_bytes() for m in MANIFESTS if (ROOT / "generated" / m).exists()
    }
    result = subprocess.run(
        ["sh", str(work / "scripts" / "gen-proto")],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    regenerated = work / "generated"
    assert _files(regenerated) == _files(ROOT / "generated")
    assert not _stale(regenerated, ROOT / "generated")
    assert {m: (regenerated / m).read_bytes() for m in manifests} == manifests
