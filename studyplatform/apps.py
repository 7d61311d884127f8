"""App configurations: the platform itself, and the admin site with a rate-limited login."""

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class StudyAdminConfig(admin_apps.AdminConfig):
    """``django.contrib.admin`` whose site limits failed logins (``auth_views.StudyAdminSite``)."""

    default = False  # named in INSTALLED_APPS; the app's own default is StudyPlatformConfig
    default_site = "studyplatform.auth_views.StudyAdminSite"


class StudyPlatformConfig(AppConfig):
    default = True
    name = "studyplatform"
    verbose_name = "Study platform"

    def ready(self) -> None:
        from studyplatform import checks  # noqa: F401  (registers the system checks)
