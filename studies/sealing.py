"""Sealed image names: a stored file's name encrypted for one participant (issue 22).

A participant's picture URL carries its stored file name sealed with AES-SIV under a key derived
from ``SECRET_KEY``, with the participant's session code as associated data. Serving it is a
decryption, not a query: the image view opens the seal and streams the file, with no database
round trip per picture. A seal opens only with the code it was made for (another participant's
URL is a 404), and a changed character fails the SIV check (a 404 too).

AES-SIV is deterministic: one participant always gets the same URL for the same file (the
browser's cache works across trials), two participants never do. The name is padded to a fixed
length before sealing, so that a token's length says nothing about the file behind it (method
names and original file names differ in length).
"""

from __future__ import annotations

import base64
import binascii
import hashlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

PADDED = 128  # bytes of plaintext: every stored name fits (FileField names are ≤ 100 chars)
_BLOCK = 64  # a longer name is padded to a multiple of this
_PURPOSE = b"studies.sealed-image:"
_TAG = 16  # AES-SIV's synthetic IV
# The shortest token: PADDED bytes of name plus the tag, in unpadded base64url.
TOKEN_MIN_LENGTH = len(base64.urlsafe_b64encode(bytes(PADDED + _TAG)).rstrip(b"="))


def derive_key(secret: str) -> bytes:
    """The 64-byte AES-256-SIV key for ``secret`` (the site's SECRET_KEY), for this use only."""
    return hashlib.sha512(_PURPOSE + secret.encode()).digest()


def _pad(name: bytes) -> bytes:
    size = max(PADDED, -(-len(name) // _BLOCK) * _BLOCK)
    return name + b"\0" * (size - len(name))


def seal(key: bytes, code: str, name: str) -> str:
    """The token for stored file ``name`` shown to the participant with session code ``code``."""
    if "\0" in name:
        raise ValueError("a stored file name cannot hold NUL")
    sealed = AESSIV(key).encrypt(_pad(name.encode()), [code.encode()])
    return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")


def unseal(key: bytes, code: str, token: str) -> str | None:
    """The stored file name in ``token`` if it was sealed for ``code``, else None."""
    if len(token) < TOKEN_MIN_LENGTH:
        return None
    try:
        data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        plain = AESSIV(key).decrypt(data, [code.encode()])
    except (InvalidTag, ValueError, binascii.Error):
        return None
    name = plain.rstrip(b"\0")
    try:
        return name.decode() or None
    except UnicodeDecodeError:  # cannot come from seal(); refuse rather than guess
        return None


def looks_sealed(token: str) -> bool:
    """Whether ``token`` has a sealed token's length (the older tokens are 24 hex digits)."""
    return len(token) >= TOKEN_MIN_LENGTH
