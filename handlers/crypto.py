"""Signatures, freshness and AES shared by every channel; strict, constant-time, secret-free errors."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import string
import struct
from typing import Callable, Mapping

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# WeChat and WeCom do not bound the age of a callback; five minutes covers clock drift
# and their retry schedule (three retries within about 15 s) while stopping replays.
MAX_SKEW_SECONDS = 300
_BLOCK = 32  # Tencent pads PKCS#7 to 32 bytes, not to the AES block size of 16
_NONCE_ALPHABET = string.ascii_letters + string.digits


class Rejected(Exception):
    """A request we refuse; `reason` is short and safe to show and log, `status` a 4xx."""

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


def sign(token: str, *parts: str) -> str:
    """Tencent's signature: SHA-1 over the sorted, concatenated strings."""
    return hashlib.sha1("".join(sorted((token, *parts))).encode("utf-8")).hexdigest()


def check_signature(given: str, token: str, *parts: str) -> None:
    """Refuse unless `given` is the signature of token and parts; constant time."""
    expected = sign(token, *parts).encode("ascii")
    if not hmac.compare_digest(expected, given.strip().lower().encode("utf-8")):
        raise Rejected("bad signature", 403)


def check_fresh(timestamp: str, now: float, max_skew: float = MAX_SKEW_SECONDS) -> None:
    """Refuse a timestamp more than max_skew seconds from now, either way."""
    if abs(int(timestamp) - now) > max_skew:
        raise Rejected("stale timestamp", 403)


def query_params(args: Mapping[str, str], *names: str) -> list[str]:
    """The named query parameters, present, short and (for timestamp) numeric."""
    values = []
    for name in names:
        value = args.get(name, "")
        if not value:
            raise Rejected(f"missing {name}")
        if len(value) > 64 and name != "echostr":
            raise Rejected(f"bad {name}")
        if name == "timestamp" and not (value.isascii() and value.isdigit() and len(value) <= 12):
            raise Rejected("bad timestamp")
        values.append(value)
    return values


def verify(args: Mapping[str, str], token: str, clock: Callable[[], float], signature_param: str, *signed: str) -> tuple[str, str]:
    """Check the signature over token, timestamp, nonce and `signed`, then freshness; return (timestamp, nonce)."""
    signature, timestamp, nonce = query_params(args, signature_param, "timestamp", "nonce")
    # Signature before freshness: a forger learns nothing about our clock.
    check_signature(signature, token, timestamp, nonce, *signed)
    check_fresh(timestamp, clock())
    return timestamp, nonce


def new_nonce() -> str:
    """A random nonce for reply envelopes."""
    return "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(10))


class AesBox:
    """AES-256-CBC as WeChat and WeCom use it: random(16) + len(4, big-endian) + msg + receive id."""

    def __init__(self, encoding_aes_key: str, receive_id: str):
        try:
            key = base64.b64decode(encoding_aes_key + "=", validate=True)
        except binascii.Error:
            key = b""
        if len(key) != 32:
            raise ValueError("encoding_aes_key must be 43 base64 characters")
        self._key = key
        self._receive_id = receive_id.encode("utf-8")

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, plaintext: str) -> str:
        """Encrypt a reply; the result is base64 text."""
        data = plaintext.encode("utf-8")
        raw = secrets.token_bytes(16) + struct.pack(">I", len(data)) + data + self._receive_id
        pad = _BLOCK - len(raw) % _BLOCK
        raw += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(raw) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> str:
        """Decrypt a callback field; anything malformed or for another receiver is Rejected."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise Rejected("bad ciphertext") from None
        if not data or len(data) % 16:
            raise Rejected("bad ciphertext")
        decryptor = self._cipher().decryptor()
        raw = decryptor.update(data) + decryptor.finalize()
        pad = raw[-1]
        if not 1 <= pad <= _BLOCK or raw[-pad:] != bytes([pad]) * pad or len(raw) - pad < 20:
            raise Rejected("bad ciphertext")
        content = raw[16:-pad]
        (length,) = struct.unpack(">I", content[:4])
        if 4 + length > len(content):
            raise Rejected("bad ciphertext")
        if not hmac.compare_digest(content[4 + length:], self._receive_id):
            raise Rejected("wrong receiver", 403)
        try:
            return content[4:4 + length].decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected("bad ciphertext") from None
