"""The Docker-free layer build, without touching the network."""

from __future__ import annotations

from pathlib import Path

from tools import build_layer, lock_layer


def test_pip_targets_the_lambda_runtime_not_the_host(tmp_path: Path) -> None:
    command = build_layer.pip_command(Path("requirements.lock"), tmp_path / "python")
    joined = " ".join(command)
    # exactly the lock's wheels, each checked against its hash, nothing resolved anew
    assert "--require-hashes" in command
    assert "--no-deps" in command
    assert "-r requirements.lock" in joined
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


def test_the_lock_pins_exactly_what_requirements_txt_asks_with_hashes() -> None:
    # Given requirements.txt (what we ask for) and requirements.lock (what make build installs)
    root = Path(build_layer.__file__).resolve().parent.parent
    asked = dict(
        line.split("==", 1)
        for line in (root / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    )
    locked = lock_layer.locked(root / "requirements.lock")
    # Then every requirement is locked at the version asked (requirements.txt changed without
    # `make lock` fails here)
    assert {lock_layer.normalized(k): v for k, v in asked.items()}.items() <= locked.items()
    # And every locked wheel carries its sha256, and none is one the runtime provides
    text = (root / "requirements.lock").read_text()
    assert text.count("--hash=sha256:") == len(locked)
    assert not set(locked) & lock_layer.RUNTIME_PROVIDED


def test_the_lock_renders_hashes_and_leaves_out_the_runtimes_packages() -> None:
    pins = [("botocore", "1.0", "a" * 64), ("pydantic", "2.0", "b" * 64)]
    text = lock_layer.render(pins, "requirements.txt")
    assert f"pydantic==2.0 \\\n    --hash=sha256:{'b' * 64}" in text
    assert "botocore==" not in text
