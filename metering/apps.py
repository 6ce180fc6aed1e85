from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "metering"
    verbose_name = "Metering: upstream attempts, usage and metrics"
    default_auto_field = "django.db.models.BigAutoField"
