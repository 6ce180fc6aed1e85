"""Encryption of secrets at rest: Fernet with a key derived from SECRET_KEY."""
from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

PREFIX = "fernet:"


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted: SECRET_KEY changed since it was written."""


@functools.lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"gempool-secrets-v1",
                   info=b"account-cookies").derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(plain: str) -> str:
    """Encrypt a secret for storage; the empty string stays empty."""
    if not plain:
        return ""
    return PREFIX + _fernet(settings.SECRET_KEY).encrypt(plain.encode()).decode()


def decrypt(stored: str) -> str:
    """Decrypt a stored secret; raises SecretUnreadable when the key no longer fits."""
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        raise SecretUnreadable("stored value is not an encrypted secret")
    return _decrypt_with(settings.SECRET_KEY, stored)


@functools.lru_cache(maxsize=4096)
def _decrypt_with(secret_key: str, stored: str) -> str:
    # Every completion reads an account's cookies and JWT: remembering recent plaintexts saves a Fernet
    # decryption (HMAC + AES) per value per request; the process holds those plaintexts while using them
    # anyway. Failures are exceptions, which lru_cache never stores.
    try:
        return _fernet(secret_key).decrypt(stored[len(PREFIX):].encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("stored secret cannot be decrypted with the current DJANGO_SECRET_KEY") from None


def mask(plain: str) -> str:
    """A display form that proves a value is set without revealing any of it."""
    return f"•••••••• ({len(plain)} chars)" if plain else ""
