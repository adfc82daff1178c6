"""Deployment checks: the failure counters must live in a store every worker and instance shares."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def throttle_store_is_shared(app_configs, **kwargs):  # type: ignore[no-untyped-def]
    backend = settings.CACHES[settings.GATEHOUSE_THROTTLE_CACHE]["BACKEND"]
    if backend.endswith(("LocMemCache", "DummyCache")):
        return [
            Warning(
                "Failed-authentication counters are kept per process, so the limit does not hold across "
                "workers or instances.",
                hint="Set GATEHOUSE_CACHE_URL to redis://... or to `database` (then run createcachetable).",
                id="gatehouse.W001",
            )
        ]
    return []
