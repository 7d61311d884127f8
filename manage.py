#!/usr/bin/env python
"""Django's command-line utility for the study platform."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studyplatform.settings")
    from django.core.management import execute_from_command_line

    from studyplatform.envconfig import ConfigurationError

    try:
        execute_from_command_line(sys.argv)
    except ConfigurationError as error:
        sys.stderr.write(f"Configuration error: {error}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
