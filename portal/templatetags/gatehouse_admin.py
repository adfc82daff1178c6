"""Template tags of the staff portal."""

from datetime import UTC, datetime

from django import template

register = template.Library()


@register.simple_tag
def gatehouse_dashboard() -> dict[str, int]:
    """The admin index's numbers: clients, active/disabled, tokens of the last 24 h, secrets ending soon."""
    from portal.admin import dashboard

    return dashboard()


@register.simple_tag
def gatehouse_recent_audit(count: int) -> list:
    """The newest audit events, for the index sidebar."""
    from clients.models import AuditEvent

    return list(AuditEvent.objects.select_related("client")[:count])


@register.simple_tag
def gatehouse_under_attack() -> list:
    """Clients whose secrets were guessed at in the last 24 hours (tokens.throttle flags them)."""
    from portal.admin import under_attack

    return under_attack()


@register.filter
def gh_epoch(seconds: int) -> datetime:
    """Unix seconds (the token table's times) as a datetime, for the `date` filter."""
    return datetime.fromtimestamp(seconds, tz=UTC)


SECURITY_APPS = {"axes"}  # django-axes: login attempts and lockouts


@register.simple_tag
def gatehouse_split_apps(app_list: list[dict]) -> dict[str, list[dict]]:
    """The dashboard's app list in two: the registry and the rest first, the login-lockout tables under Security."""
    main = [app for app in app_list if app["app_label"] not in SECURITY_APPS]
    return {
        "main": sorted(main, key=lambda app: app["app_label"] != "clients"),  # the registry first
        "security": [app for app in app_list if app["app_label"] in SECURITY_APPS],
    }
