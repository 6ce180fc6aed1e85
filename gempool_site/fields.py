"""Model fields shared by the apps."""
from __future__ import annotations

import logging
from typing import Any

from django.db import models

from gempool_site import crypto

logger = logging.getLogger(__name__)


class EncryptedTextField(models.TextField):
    """A text column stored Fernet-encrypted; Python code only ever sees the plain value."""

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None:
            return value
        try:
            return crypto.decrypt(value)
        except crypto.SecretUnreadable:
            # One unreadable row (the secret key changed) must not take every page down with it;
            # the account then fails its login check and shows as needing new cookies.
            logger.warning("a stored secret could not be decrypted", extra={"field": self.name})
            return ""

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None:
            return value
        return crypto.encrypt(value)
