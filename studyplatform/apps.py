from django.apps import AppConfig


class StudyPlatformConfig(AppConfig):
    name = "studyplatform"
    verbose_name = "Study platform"

    def ready(self) -> None:
        from studyplatform import checks  # noqa: F401  (registers the system checks)
