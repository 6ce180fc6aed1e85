"""Cookie values are encrypted at rest and never readable from the database file."""
from __future__ import annotations

import pytest
from django.db import connection

from gempool_site import crypto


def test_encryption_round_trips():
    token = crypto.encrypt("__Secure-C_SES value ✓")
    assert token.startswith("fernet:") and "Secure" not in token
    assert crypto.decrypt(token) == "__Secure-C_SES value ✓"


def test_a_changed_secret_key_is_reported_not_garbled(settings):
    token = crypto.encrypt("cookie")
    settings.SECRET_KEY = "another-secret-key-entirely-0123456789-abcdefghijkl"
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(token)


def test_mask_reveals_no_character_of_the_secret():
    assert "cdef" not in crypto.mask("abcdefabcdefabcdef-cdef")
    assert crypto.mask("") == ""


@pytest.mark.django_db
def test_the_database_holds_no_cookie_in_clear(make_account):
    account = make_account(secure_c_ses="PLAINTEXT-MARKER-SES", host_c_oses="PLAINTEXT-MARKER-OSES",
                           proxy_url="http://user:PLAINTEXT-MARKER-PW@proxy:8080")
    with connection.cursor() as cursor:
        cursor.execute("SELECT secure_c_ses, host_c_oses, proxy_url FROM accounts_account WHERE id = %s",
                       [account.pk])
        raw_row = cursor.fetchone()
    assert all(value.startswith("fernet:") for value in raw_row)
    assert not any("PLAINTEXT-MARKER" in value for value in raw_row)
    account.refresh_from_db()
    assert account.secure_c_ses == "PLAINTEXT-MARKER-SES"


@pytest.mark.django_db(transaction=True)
def test_the_sqlite_file_holds_no_cookie_in_clear(make_account):
    if connection.vendor != "sqlite":
        pytest.skip("checks the SQLite file itself")
    make_account(secure_c_ses="FILE-MARKER-7f3a9c")
    connection.close()  # flush WAL into the main file on checkpoint
    path = connection.settings_dict["NAME"]
    blob = b"".join(open(p, "rb").read() for p in (path, path + "-wal") if __import__("os").path.exists(p))
    assert b"FILE-MARKER-7f3a9c" not in blob
    assert b"fernet:" in blob
