"""Template tags of the staff portal."""

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
