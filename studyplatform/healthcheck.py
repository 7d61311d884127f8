"""Container health check: ``python -m studyplatform.healthcheck [PORT]``.

Asks the local web server for ``/healthz`` with a ``Host`` header the site accepts (the first
entry of ``ALLOWED_HOSTS``): a bare ``http://127.0.0.1`` request would be refused with 400 by a
production site whose ``ALLOWED_HOSTS`` names only its public host. ``/healthz`` is exempt from
the HTTPS redirect. Exit status 0 when it answers 200 (database and broker reachable), else 1.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence


def host_header(allowed_hosts: str) -> str:
    """A host name that matches the first ``ALLOWED_HOSTS`` entry (``.example.org`` → the
    domain itself; ``*`` or nothing → ``localhost``)."""
    first = next((h.strip() for h in allowed_hosts.split(",") if h.strip()), "")
    if not first or first == "*":
        return "localhost"
    return first.lstrip(".")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    port = int(args[0]) if args else 8000
    host = host_header(os.environ.get("ALLOWED_HOSTS", "localhost"))
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=4) as response:
            ok = response.status == 200
    except (urllib.error.URLError, OSError) as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
