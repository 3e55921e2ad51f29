"""The secret key: where it comes from, how purpose keys are derived from it, how it is named.

One master secret lives outside every data zone (an environment variable or a 0600 key file).
Each use of it gets its own derived key ("domain separation"): a record pseudonym computed with
the "record" key can never be compared with, or replayed as, a person link key computed with
the "person" key, even for the same input string. Only a short fingerprint (`key_id`) is ever
written anywhere, so logs and the register can say which key was in use without revealing it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

MIN_SECRET_CHARS = 32
_DERIVE_PREFIX = b"kiim/v1/purpose/"
_KEY_ID_LABEL = b"kiim/v1/key-id"


class MissingKeyError(KeyError):
    """The secret key is missing, too short or not safely stored.

    Subclasses KeyError so callers that treat "no key" like a missing mapping entry keep
    working, but prints its message plainly (KeyError would repr-quote it). The message says
    what to do and never contains the key material.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def derive_key(master: bytes, purpose: str) -> bytes:
    """Derive the 32-byte key for one purpose from the master secret.

    HMAC-SHA256(master, "kiim/v1/purpose/" + purpose): a PRF keyed by the master secret, so
    purpose keys are independent of each other and none reveals the master or a sibling.

    Examples:
        >>> derive_key(b"x" * 32, "record") != derive_key(b"x" * 32, "person")
        True
    """
    if not isinstance(master, bytes | bytearray) or len(master) < 16:
        raise ValueError("master key must be at least 16 bytes")
    if not purpose:
        raise ValueError("purpose must be a non-empty string")
    return hmac.new(bytes(master), _DERIVE_PREFIX + purpose.encode("utf-8"), "sha256").digest()


def key_id(master: bytes) -> str:
    """Short public fingerprint of a key (16 hex characters).

    It is a keyed PRF output over a constant label, so it is stable for a key, differs between
    keys, and reveals nothing about the key (no dictionary attack is possible without it).
    """
    return hmac.new(bytes(master), _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


def _check_secret(text: str, source: str) -> bytes:
    secret = text.strip()
    if len(secret) < MIN_SECRET_CHARS:
        raise MissingKeyError(
            f"the secret key from {source} is too short ({len(secret)} characters, at least "
            f"{MIN_SECRET_CHARS} needed); create a new one with "
            "pseudonymization.create_key_file(path)"
        )
    return secret.encode("utf-8")


def load_key(env_var: str = "KIIM_SECRET_KEY", file_env_var: str = "KIIM_KEY_FILE") -> bytes:
    """Read the master secret from `$env_var` or from the file named in `$file_env_var`.

    The environment variable wins when both are set. The secret is the text itself (UTF-8,
    surrounding whitespace removed), so the same hex string gives the same key from either
    source. A key file must be readable by its owner only (mode 0600): a group- or
    world-readable key is refused rather than used, because anyone who can read it can
    reverse every pseudonym by dictionary attack.

    Raises:
        MissingKeyError: neither source is set, the file is missing or unreadable, has loose
            permissions, or the secret is shorter than 32 characters.
    """
    value = os.environ.get(env_var)
    if value:
        return _check_secret(value, f"${env_var}")
    file_name = os.environ.get(file_env_var)
    if not file_name:
        raise MissingKeyError(
            f"no pseudonymisation key: set ${env_var} to a secret of at least "
            f"{MIN_SECRET_CHARS} characters, or ${file_env_var} to a key file (mode 0600) "
            "created with pseudonymization.create_key_file(path)"
        )
    path = Path(file_name).expanduser()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise MissingKeyError(
            f"key file {path} (from ${file_env_var}) does not exist; create it with "
            "pseudonymization.create_key_file(path) or point the variable at the right file"
        ) from None
    if not stat.S_ISREG(mode):
        raise MissingKeyError(f"key file {path} (from ${file_env_var}) is not a regular file")
    if mode & 0o077:
        raise MissingKeyError(
            f"key file {path} is accessible by group or others (mode {stat.S_IMODE(mode):04o}); "
            f"restrict it with: chmod 600 {path}"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise MissingKeyError(f"key file {path} cannot be read ({type(e).__name__})") from None
    return _check_secret(text, f"key file {path}")


def create_key_file(path: str | os.PathLike[str]) -> bytes:
    """Create a new key file with 32 random bytes as hex (64 characters), mode 0600.

    Refuses to overwrite an existing file: replacing a key silently would break the month-to-
    month continuity of every pseudonym. Returns the secret exactly as `load_key` will read it.
    """
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_hex(32)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise FileExistsError(
            f"key file {target} already exists; refusing to overwrite an existing key"
        ) from None
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (secret + "\n").encode("ascii"))
    finally:
        os.close(fd)
    return secret.encode("ascii")
