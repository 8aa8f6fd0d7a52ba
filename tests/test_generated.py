"""generated/ must match proto/, and the proto must pass buf lint."""

import filecmp
import shutil
import subprocess
from pathlib import Path

from conftest import ROOT

BUF = ROOT / ".venv" / "bin" / "buf"


def _buf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BUF), *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_buf_lint_passes():
    result = _buf("lint")
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_is_current(tmp_path: Path):
    result = _buf("generate", "--output", str(tmp_path))
    assert result.returncode == 0, result.stderr
    fresh = tmp_path / "generated"
    committed = ROOT / "generated"
    fresh_files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    committed_files = sorted(
        p.relative_to(committed) for p in committed.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    assert fresh_files == committed_files, "generated/ has other files; run scripts/gen-proto"
    stale = [str(f) for f in fresh_files if not filecmp.cmp(fresh / f, committed / f, shallow=False)]
    assert not stale, f"generated/ is stale against proto/ ({stale}); run scripts/gen-proto"
    shutil.rmtree(tmp_path, ignore_errors=True)
