"""Key handling: derivation, fingerprint, loading from env or a 0600 file, creation."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pseudonymization import MissingKeyError, create_key_file, derive_key, key_id, load_key

MASTER = b"m" * 32


def test_derive_key_separates_purposes_and_is_stable() -> None:
    keys = {p: derive_key(MASTER, p) for p in ("record", "person", "azr", "bloom")}
    assert len(set(keys.values())) == 4
    assert all(len(k) == 32 for k in keys.values())
    assert derive_key(MASTER, "record") == keys["record"]
    assert derive_key(b"n" * 32, "record") != keys["record"]
    assert MASTER not in keys["record"]


def test_derive_key_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        derive_key(b"short", "record")
    with pytest.raises(ValueError):
        derive_key(MASTER, "")


def test_key_id_is_short_stable_and_key_specific() -> None:
    kid = key_id(MASTER)
    assert len(kid) == 16 and all(c in "0123456789abcdef" for c in kid)
    assert key_id(MASTER) == kid
    assert key_id(b"n" * 32) != kid
    assert MASTER.hex()[:16] != kid


def test_load_key_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIIM_SECRET_KEY", "  " + "s" * 40 + "\n")
    monkeypatch.delenv("KIIM_KEY_FILE", raising=False)
    assert load_key() == b"s" * 40


def test_load_key_refuses_short_env_key_without_printing_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = "tooshort-secret-value"
    monkeypatch.setenv("KIIM_SECRET_KEY", secret)
    with pytest.raises(MissingKeyError) as err:
        load_key()
    assert secret not in str(err.value)
    assert "32" in str(err.value)
    assert isinstance(err.value, KeyError)


def test_load_key_missing_everywhere_is_actionable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIIM_SECRET_KEY", raising=False)
    monkeypatch.delenv("KIIM_KEY_FILE", raising=False)
    with pytest.raises(MissingKeyError, match="KIIM_SECRET_KEY") as err:
        load_key()
    assert "KIIM_KEY_FILE" in str(err.value)


def test_create_and_load_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "keys" / "kiim.key"
    secret = create_key_file(path)
    assert len(secret) == 64 and bytes.fromhex(secret.decode())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.delenv("KIIM_SECRET_KEY", raising=False)
    monkeypatch.setenv("KIIM_KEY_FILE", str(path))
    assert load_key() == secret
    # the same text given directly is the same key
    monkeypatch.setenv("KIIM_SECRET_KEY", secret.decode())
    assert load_key() == secret
    # with both set, the environment variable wins over the file
    monkeypatch.setenv("KIIM_SECRET_KEY", "e" * 40)
    assert load_key() == b"e" * 40


def test_create_key_file_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "kiim.key"
    first = create_key_file(path)
    with pytest.raises(FileExistsError):
        create_key_file(path)
    assert path.read_text().strip().encode() == first


def test_load_key_refuses_group_readable_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "kiim.key"
    secret = create_key_file(path)
    os.chmod(path, 0o640)
    monkeypatch.delenv("KIIM_SECRET_KEY", raising=False)
    monkeypatch.setenv("KIIM_KEY_FILE", str(path))
    with pytest.raises(MissingKeyError, match="chmod 600") as err:
        load_key()
    assert secret.decode() not in str(err.value)


def test_load_key_refuses_missing_and_short_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KIIM_SECRET_KEY", raising=False)
    monkeypatch.setenv("KIIM_KEY_FILE", str(tmp_path / "nope.key"))
    with pytest.raises(MissingKeyError, match="does not exist"):
        load_key()
    short = tmp_path / "short.key"
    short.write_text("abc\n")
    short.chmod(0o600)
    monkeypatch.setenv("KIIM_KEY_FILE", str(short))
    with pytest.raises(MissingKeyError, match="too short") as err:
        load_key()
    assert "abc" not in str(err.value)
