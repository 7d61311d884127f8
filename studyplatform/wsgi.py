"""WSGI entry point (gunicorn studyplatform.wsgi:application)."""

import os
import sys

from django.core.wsgi import get_wsgi_application

from studyplatform.envconfig import ConfigurationError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studyplatform.settings")
try:
    application = get_wsgi_application()
except ConfigurationError as error:
    sys.stderr.write(f"Configuration error: {error}\n")
    raise SystemExit(2) from None
