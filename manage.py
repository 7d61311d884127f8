#!/usr/bin/env python
"""Django's command-line utility for the study platform.

Bad configuration and an unusable database end the command with one line naming the variable to
fix, not a traceback (``--traceback`` still shows it).
"""

import os
import sys
from pathlib import Path


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studyplatform.settings")
    from django.core.management import execute_from_command_line
    from django.db.utils import OperationalError

    from studyplatform.envconfig import ConfigurationError, database_error_line, load

    try:
        execute_from_command_line(sys.argv)
    except ConfigurationError as error:
        sys.stderr.write(f"Configuration error: {error}\n")
        sys.exit(2)
    except OperationalError as error:  # e.g. PostgreSQL down or DATABASE_URL's host wrong
        if "--traceback" in sys.argv:
            raise
        url = load(Path(__file__).resolve().parent).string("DATABASE_URL")
        sys.stderr.write(database_error_line(str(error), url) + "\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
