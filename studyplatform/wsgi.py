"""WSGI entry point (gunicorn studyplatform.wsgi:application).

The URL configuration (and with it every view module and what they import: the analysis
package, scipy, DRF's schema) is loaded here, when a worker starts, rather than by its first
request: otherwise the first participant served by each new worker waited about two seconds.
"""

import os
import sys

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from studyplatform.envconfig import ConfigurationError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studyplatform.settings")
try:
    application = get_wsgi_application()
except ConfigurationError as error:
    sys.stderr.write(f"Configuration error: {error}\n")
    raise SystemExit(2) from None
get_resolver().url_patterns  # noqa: B018 - imports every view module now, not on a request
