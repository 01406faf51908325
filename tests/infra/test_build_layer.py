"""The Docker-free layer build, without touching the network."""

from __future__ import annotations

from pathlib import Path

from tools import build_layer


def test_pip_targets_the_lambda_runtime_not_the_host(tmp_path: Path) -> None:
    command = build_layer.pip_command(Path("requirements.txt"), tmp_path / "python")
    joined = " ".join(command)
    assert "--platform manylinux2014_aarch64" in joined
    assert "--platform manylinux_2_28_aarch64" in joined
    assert "--only-binary=:all:" in command
    assert "--python-version 3.13" in joined
    assert "--implementation cp" in joined
    assert f"--target {tmp_path / 'python'}" in joined


def test_strip_removes_runtime_packages_and_caches(tmp_path: Path) -> None:
    # Given an installed tree with boto3/botocore, caches and a real dependency
    for name in ("boto3", "botocore", "s3transfer", "pydantic", "pydantic/__pycache__"):
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
        (tmp_path / name / "__init__.py").write_text("")
    (tmp_path / "boto3-1.0.dist-info").mkdir()
    (tmp_path / "pydantic-2.0.dist-info").mkdir()
    (tmp_path / "pydantic" / "x.pyc").write_bytes(b"")
    # When stripped
    build_layer.strip(tmp_path)
    # Then only the dependency and its metadata are left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pydantic", "pydantic-2.0.dist-info"]
    assert sorted(p.name for p in (tmp_path / "pydantic").iterdir()) == ["__init__.py"]


def test_the_giftcard_package_is_copied_without_caches(tmp_path: Path) -> None:
    source = tmp_path / "src" / "giftcard"
    (source / "__pycache__").mkdir(parents=True)
    (source / "__init__.py").write_text("")
    (source / "__pycache__" / "a.pyc").write_bytes(b"")
    site = tmp_path / "site"
    site.mkdir()
    build_layer.copy_package(source, site)
    assert sorted(p.name for p in (site / "giftcard").iterdir()) == ["__init__.py"]
