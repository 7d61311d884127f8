"""Participant codes never reach a log: access-log paths name a keyed hash of the code instead.

A participant's code (``/take/<code>/``, ``/s/<code>/``, ``/api/take/<code>/``,
``/api/participants/<code>/...``) is the credential to their session, so a log line with it would
let anyone who reads the logs answer in their name. Every server the project ships logs through
this module:

* ``manage.py runserver`` and ``manage.py demo`` log requests through the ``django.server`` logger
  (and 404s through ``django.request``): :class:`RedactParticipantCodes` is a logging filter on
  the handler that settings ``LOGGING`` gives them;
* gunicorn (Dockerfile, docker-compose.yml) writes its own access and error logs:
  :class:`GunicornLogger`, named by ``--logger-class``, filters both.

The code is replaced by ``~`` and the first hex digits of an HMAC keyed with ``SECRET_KEY``: one
participant's requests can still be followed through the log, but the code cannot be recovered.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from typing import Any

from gunicorn.glogging import Logger as _GunicornBaseLogger

# A path segment that follows one of the participant prefixes (anywhere in a message: a request
# line, a bare path, a referer URL).
_CODE_IN_PATH = re.compile(r"(/(?:api/)?(?:take|participants|s)/)([^/?#\s\"']+)")


def code_digest(code: str) -> str:
    """The placeholder that stands for ``code`` in logs: ``~`` and 10 hex digits of an HMAC."""
    try:
        from django.conf import settings

        key = str(settings.SECRET_KEY).encode()
    except Exception:  # settings not configured (a bare gunicorn master): placeholder only
        return "~"
    return "~" + hmac.new(key, code.encode(), hashlib.sha256).hexdigest()[:10]


def redact(text: str) -> str:
    """``text`` with every participant code in a path replaced by its placeholder."""
    return _CODE_IN_PATH.sub(lambda match: match.group(1) + code_digest(match.group(2)), text)


class RedactParticipantCodes(logging.Filter):
    """Logging filter: rewrites a record's message so that it names no participant code.

    The message is formatted once and its arguments dropped (the extra attributes, such as
    ``status_code`` that Django's ``ServerFormatter`` reads, stay).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        return True


class GunicornLogger(_GunicornBaseLogger):
    """gunicorn logger (``--logger-class studyplatform.logredact.GunicornLogger``).

    Both of gunicorn's logs are filtered: the access log (whatever ``--access-logformat`` names:
    request line, path, referer, headers) and the error log ("Error handling request
    /take/<code>/").
    """

    def __init__(self, cfg: Any) -> None:
        super().__init__(cfg)
        for log in (self.error_log, self.access_log):
            log.addFilter(RedactParticipantCodes())
