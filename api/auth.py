"""API keys: kept only as SHA-256 digests and checked in constant time.

A presented key is hashed and compared with every stored digest (``hmac.compare_digest``,
no early exit), so neither the comparison nor the number of keys leaks through timing.
Keys never reach a log line or an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from pathlib import Path

from ..errors import ConfigError, InvalidAPIKeyError, MissingAPIKeyError
from .settings import Settings

__all__ = ["KeyStore", "hash_key"]

_HEX_DIGEST = re.compile(r"^(?:sha256:)?([0-9a-fA-F]{64})$")


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyStore:
    def __init__(self, digests: Iterable[bytes], disabled: bool = False) -> None:
        self._digests = tuple(digests)
        self.disabled = disabled
        if not disabled and not self._digests:
            raise ConfigError(
                "no API keys configured: set LOOKALIKE_API_KEYS (comma-separated) or LOOKALIKE_API_KEYS_FILE "
                "(SHA-256 hashes, one a line), or LOOKALIKE_AUTH_DISABLED=true / --no-auth for a local demo"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyStore:
        digests = [hash_key(k.get_secret_value()) for k in settings.api_keys]
        if settings.api_keys_file is not None:
            digests += _read_key_file(settings.api_keys_file)
        return cls(digests, disabled=settings.auth_disabled)

    def check(self, presented: str | None) -> None:
        """Raise unless ``presented`` is one of the keys (always passes when keys are off)."""
        if self.disabled:
            return
        if not presented:
            raise MissingAPIKeyError(
                "missing API key: send it as 'x-api-key: KEY' or 'Authorization: Bearer KEY'"
            )
        digest = hash_key(presented)
        found = False
        for stored in self._digests:
            found |= hmac.compare_digest(stored, digest)
        if not found:
            raise InvalidAPIKeyError("invalid API key")


def _read_key_file(path: Path) -> list[bytes]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read API key file {path}: {exc.strerror or exc}") from exc
    digests = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        found = _HEX_DIGEST.match(text)
        if found is None:
            # The line may be a plain key pasted by mistake: say where, never what.
            raise ConfigError(f"{path}:{number}: not a SHA-256 hex digest (store hashes, not keys)")
        digests.append(bytes.fromhex(found.group(1)))
    return digests
