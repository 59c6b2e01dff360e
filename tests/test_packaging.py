"""What the distribution installs: one `flowctl` package, whatever the folders are called.

The folders stay at the repository's top level (``engine/``, ``worker/``, ``cli/``,
``api/``, ``metrics/``, ``console/``); installed, they are ``flowctl.engine`` and so on, so a user's own ``api`` or
``cli`` package never collides with ours. These tests build the wheel from the tree,
install it into a clean venv and run it, and check the editable install maps the same
names. Everything comes from uv's cache (``--offline``): ``make test`` synced it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import ROOT

UV = ROOT / ".tools" / "bin" / "uv"
BARE = ("engine", "worker", "cli", "api", "metrics", "console")


def _uv(*args: str, cwd: Path, env: dict[str, str] | None = None) -> None:
    assert UV.exists(), f"{UV} is missing: `make test` installs it (requirements-uv.txt)"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    clean |= {"UV_PYTHON_DOWNLOADS": "never", **(env or {})}
    proc = subprocess.run(
        [str(UV), *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr


def _tracked() -> list[str]:
    """The files git tracks: what a fresh clone (and so CI) builds from."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    return [name.decode() for name in listed if name and (ROOT / name.decode()).is_file()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of the committed tree (setuptools writes build
    folders beside the sources, which must not land in the checkout)."""
    tree = tmp_path_factory.mktemp("tree")
    for name in _tracked():
        target = tree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    out = tmp_path_factory.mktemp("dist")
    _uv("build", "--offline", "--wheel", "--out-dir", str(out), str(tree), cwd=tree)
    (built,) = out.glob("*.whl")
    return built


def test_the_wheel_holds_only_the_flowctl_package(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"flowctl", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    assert wheel.name.startswith("flowctl_voice-")
    for package in BARE:
        assert f"flowctl/{package}/__init__.py" in names
    # every module of the tree is in it, subpackages included
    tree = {f"flowctl/{name}" for name in _tracked() if name.split("/")[0] in BARE}
    assert tree <= set(names), sorted(tree - set(names))


def test_the_installed_wheel_runs_flowctl_and_nothing_bare(wheel: Path, tmp_path: Path) -> None:
    # The locked dependencies (as `uv sync` installs them, from the cache), then the
    # wheel alone: the venv holds no trace of the checkout.
    venv = tmp_path / "venv"
    _uv(
        "sync", "--offline", "--frozen", "--quiet", "--no-install-project",
        "--python", sys.executable, cwd=ROOT, env={"UV_PROJECT_ENVIRONMENT": str(venv)},
    )  # fmt: skip
    python = venv / "bin" / "python"
    _uv(
        "pip", "install", "--offline", "--quiet", "--no-deps", "--python", str(python),
        str(wheel), cwd=tmp_path,
    )  # fmt: skip
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    dist_info = f"{'-'.join(wheel.name.split('-')[:2])}.dist-info"
    record = (site / dist_info / "RECORD").read_text().splitlines()
    installed = {line.split(",")[0].split("/")[0] for line in record}
    assert installed == {"flowctl", dist_info, ".."}
    assert [line for line in record if line.startswith("..")] == [
        line for line in record if line.startswith("../../../bin/flowctl,")
    ]
    assert not [name for name in BARE if (site / name).exists()]

    # Run from a folder with no sources in it, so only site-packages can answer.
    probe = (
        "import importlib.util, flowctl.engine, flowctl.cli.main\n"
        f"print([n for n in {BARE!r} if importlib.util.find_spec(n)])\n"
        "print(flowctl.engine.__file__.startswith(" + repr(str(site)) + "))"
    )
    proc = subprocess.run(
        [str(python), "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert proc.stdout.splitlines() == ["[]", "True"]

    flow = tmp_path / "clinic.json"
    shutil.copy(ROOT / "flows" / "clinic.json", flow)
    proc = subprocess.run(
        [str(venv / "bin" / "flowctl"), "lint", str(flow)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "All checks passed (1 file).\n")


def test_the_editable_install_maps_the_same_names(tmp_path: Path) -> None:
    probe = (
        "import importlib.util, flowctl.api, flowctl.engine.store\n"
        f"print([n for n in {BARE!r} if importlib.util.find_spec(n)])\n"
        "print(flowctl.api.__file__)\n"
        "print(flowctl.engine.store.__file__)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert proc.stdout.splitlines() == [
        "[]",
        str(ROOT / "api" / "__init__.py"),
        str(ROOT / "engine" / "store" / "__init__.py"),
    ]
