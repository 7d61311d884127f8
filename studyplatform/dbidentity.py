"""Which database a process works on, as a short identity that names no credentials.

Task messages carry ids (a job's, a unit's, a study's): an id means something only in the database
it was read from. Every task message names its database (:func:`database_identity`, in the
``db_identity`` header, see :mod:`studyplatform.celery`), and a worker refuses one that names
another database instead of looking the id up in its own (issue 23: with the embedded defaults,
two ``DATABASE_URL`` values share the file-system broker, and a worker on the first database took
a job of the second, found an unrelated row with the same id and reported it done).

The identity is the first 16 hex digits of SHA-256 over ``engine|host|port|name`` (for SQLite
the resolved path of the file): the same database gives the same identity in every process, the
user name and password are not part of it (two roles on one database are one database).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

IDENTITY_HEADER = "db_identity"
LABEL_HEADER = "db_label"


def _parts(settings_dict: dict[str, Any]) -> tuple[str, str, str, str]:
    engine = str(settings_dict.get("ENGINE", ""))
    name = str(settings_dict.get("NAME", ""))
    if engine.endswith("sqlite3") and name and name != ":memory:" and "mode=memory" not in name:
        name = str(Path(name).resolve())
    host = str(settings_dict.get("HOST") or "")
    port = str(settings_dict.get("PORT") or "")
    return engine, host, port, name


def identity_of(settings_dict: dict[str, Any]) -> str:
    """``sha256(engine|host|port|name)[:16]`` of a Django database entry."""
    text = "|".join(_parts(settings_dict))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def label_of(settings_dict: dict[str, Any]) -> str:
    """A readable name for logs: ``postgresql studyplatform on 127.0.0.1:5432`` or
    ``sqlite3 /path/db.sqlite3`` (never the user or the password)."""
    engine, host, port, name = _parts(settings_dict)
    vendor = engine.rsplit(".", 1)[-1]
    where = f" on {host}{':' + port if port else ''}" if host else ""
    return f"{vendor} {name}{where}"


def database_identity() -> str:
    """The identity of the default database of this process, as it is connected now (a test
    run's test database, not the one ``DATABASE_URL`` names)."""
    from django.db import connections

    return identity_of(connections["default"].settings_dict)


def database_label() -> str:
    from django.db import connections

    return label_of(connections["default"].settings_dict)
