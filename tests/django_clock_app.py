"""A Django app in New York (TIME_ZONE="America/New_York") instrumented by the real Treblle SDK (PyPI
`treblle` 2.0.6), run in its own process by tests/test_treblle_sdk.py: Django's settings are set once per
process, and the SDK dates a request with datetime.now(), the process's own zone.

    CLOCK_APP_SDK_TOKEN=… CLOCK_APP_API_KEY=… CLOCK_APP_USE_TZ=0|1 python -m tests.django_clock_app COLLECTOR_URL

With DJANGO_SETTINGS_MODULE=tests.django_clock_app Django sets the process zone to TIME_ZONE, so the SDK
sends New York time; with settings.configure() it does not, so the SDK sends the host's time (TZ),
labelled New York either way. The module is also the settings module and the URLconf.
"""
from __future__ import annotations

import os
import sys
import types

from django.http import JsonResponse
from django.urls import path

DEBUG = False
SECRET_KEY = "test-only-not-secret"
ALLOWED_HOSTS = ["testserver"]
ROOT_URLCONF = "tests.django_clock_app"
MIDDLEWARE = ["treblle.middleware.TreblleMiddleware"]
INSTALLED_APPS: list[str] = []
DATABASES: dict = {}
USE_TZ = os.environ.get("CLOCK_APP_USE_TZ", "1") == "1"
TIME_ZONE = "America/New_York"
TREBLLE = {"SDK_TOKEN": os.environ.get("CLOCK_APP_SDK_TOKEN", ""), "API_KEY": os.environ.get("CLOCK_APP_API_KEY", "")}
LOGGING_CONFIG = None


def things_view(request):
    return JsonResponse({"things": []})


urlpatterns = [path("api/things", things_view)]


def main(collector_url: str) -> int:
    import django
    from django.conf import settings

    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        settings.configure(**{name: value for name, value in globals().items() if name.isupper()})
    django.setup()
    import treblle.middleware as treblle_middleware
    from django.test import Client

    # The SDK picks one of its hard-coded Treblle hosts at random: send it to the collector instead.
    treblle_middleware.random = types.SimpleNamespace(choice=lambda urls: collector_url)
    response = Client().get("/api/things", headers={"treblle-user-id": "cust_clock"})
    treblle_middleware.TreblleMiddleware.cleanup_resources()  # every POST has been answered
    return 0 if response.status_code == 200 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
