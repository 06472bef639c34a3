from django.apps import AppConfig


class TimelineConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "timeline"
    verbose_name = "Conflict timeline"

    def ready(self):
        from timeline import cache

        # Every change of the record moves the version anonymous answers are cached under.
        cache.connect_signals(self)
