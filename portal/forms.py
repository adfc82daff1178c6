"""Forms of the staff portal. None of them has a secret field: secrets are made by the server only."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from django import forms
from django.http import HttpRequest

from clients.limits import MAX_TOKEN_TTL
from clients.models import (
    Client,
    ResourceServer,
    Scope,
    default_token_ttl,
    max_grace,
    validate_contact,
    validate_grace,
)

GLOBAL_SCOPES = "Global scopes"


def scope_groups(scopes: Any = None) -> list[tuple[str, list[Scope]]]:
    """The scope catalogue grouped by resource server: global scopes first, then each resource server's."""
    groups: dict[str, list[Scope]] = {}
    rows = Scope.objects.select_related("resource_server") if scopes is None else scopes
    for scope in sorted(rows, key=lambda s: (s.resource_server_id is not None, s.resource or "", s.name)):
        label = f"{scope.resource_server.name} ({scope.resource})" if scope.resource_server else GLOBAL_SCOPES
        groups.setdefault(label, []).append(scope)
    return list(groups.items())


def group_scope_choices(field: forms.ModelMultipleChoiceField) -> forms.ModelMultipleChoiceField:
    """Show a scopes field's checkboxes grouped by resource server (validation still goes by the queryset)."""
    field.choices = [(label, [(s.pk, s.name) for s in scopes]) for label, scopes in scope_groups()]
    return field


def introspects_for_field(**kwargs: Any) -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        ResourceServer.objects.filter(retired_at__isnull=True),
        required=False,
        label="Introspects for",
        empty_label="No resource server: a global introspector (sees every token)",
        help_text="For a client that may introspect: the resource server it speaks for. It then sees only tokens "
        "meant for that resource server, and only its scopes and global ones.",
        **kwargs,
    )


class ClientRegisterForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    owner = forms.CharField(max_length=200, required=False, help_text="The team or person responsible for it.")
    contact = forms.CharField(
        max_length=254, required=False, validators=[validate_contact], help_text="An email address or an http(s) URL."
    )
    scopes = forms.ModelMultipleChoiceField(
        Scope.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Scopes the client may receive, by resource server.",
    )
    can_introspect = forms.BooleanField(
        label="May introspect", required=False, help_text="Resource servers may call the introspection endpoint."
    )
    resource_server = introspects_for_field()
    token_ttl = forms.IntegerField(
        label="Token lifetime (seconds)", min_value=1, max_value=MAX_TOKEN_TTL, initial=default_token_ttl
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        group_scope_choices(self.fields["scopes"])  # type: ignore[arg-type]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("resource_server") is not None and not data.get("can_introspect"):
            self.add_error("resource_server", "Only a client that may introspect speaks for a resource server.")
        return data


GRACE_CHOICES = [
    ("0", "End now: the current secret stops working at once"),
    ("3600", "1 hour"),
    ("86400", "24 hours"),
    ("604800", "7 days"),
    ("custom", "Custom"),
]
UNITS = {"minutes": 60, "hours": 3600, "days": 86400}


class RotateForm(forms.Form):
    """How long the current secret(s) keep working after the new one is issued."""

    grace = forms.ChoiceField(
        label="Grace period for the current secret(s)", choices=GRACE_CHOICES, widget=forms.RadioSelect, initial="3600"
    )
    custom_amount = forms.IntegerField(label="Custom grace", min_value=1, required=False)
    custom_unit = forms.ChoiceField(choices=[(u, u) for u in UNITS], required=False, initial="hours")
    revoke_tokens = forms.BooleanField(
        label="Also revoke the client's live tokens now",
        required=False,
        help_text="For a leaked secret: tokens already issued end at once. Otherwise they stay valid until they expire.",
    )

    def max_grace(self) -> str:
        return max_grace()

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("grace") == "custom":
            amount, unit = data.get("custom_amount"), data.get("custom_unit") or "hours"
            if not amount:
                raise forms.ValidationError("Enter the custom grace period.", code="custom_missing")
            data["grace_period"] = validate_grace(amount * UNITS[unit])
        elif data.get("grace") is not None:
            data["grace_period"] = timedelta(seconds=int(data["grace"]))
        return data


class OnceGuard:
    """A per-form nonce in the session, so a reloaded or resubmitted POST cannot create or rotate twice.

    The session only ever holds the nonce and the id of the client it produced, never a secret.
    """

    KEY = "gatehouse.once"
    KEEP = 20

    def __init__(self, request: HttpRequest) -> None:
        self.session = request.session

    def issue(self) -> str:
        nonce = secrets.token_urlsafe(16)
        pending = dict(self.session.get(self.KEY, {}))
        pending[nonce] = None
        self.session[self.KEY] = dict(list(pending.items())[-self.KEEP :])
        return nonce

    def state(self, nonce: str) -> str:
        """unused, used or unknown (expired session, forged form)."""
        pending = self.session.get(self.KEY, {})
        if nonce not in pending:
            return "unknown"
        return "unused" if pending[nonce] is None else "used"

    def spend(self, nonce: str, client: Client) -> None:
        pending = dict(self.session.get(self.KEY, {}))
        pending[nonce] = client.pk
        self.session[self.KEY] = pending

    def client_pk(self, nonce: str) -> int | None:
        return self.session.get(self.KEY, {}).get(nonce)
