"""Forms of the staff portal. None of them has a secret field: secrets are made by the server only."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django import forms
from django.http import HttpRequest

from clients.models import MAX_TOKEN_TTL, Client, Scope, default_token_ttl


class ClientRegisterForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)
    scopes = forms.ModelMultipleChoiceField(
        Scope.objects.all(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Scopes the client may receive.",
    )
    can_introspect = forms.BooleanField(
        label="May introspect", required=False, help_text="Resource servers may call the introspection endpoint."
    )
    token_ttl = forms.IntegerField(
        label="Token lifetime (seconds)", min_value=1, max_value=MAX_TOKEN_TTL, initial=default_token_ttl
    )


GRACE_CHOICES = [
    ("0", "End now: the current secret stops working at once"),
    ("3600", "1 hour"),
    ("86400", "24 hours"),
    ("604800", "7 days"),
    ("custom", "Custom"),
]
UNITS = {"minutes": 60, "hours": 3600, "days": 86400}
MAX_GRACE = timedelta(days=90)


class RotateForm(forms.Form):
    """How long the current secret(s) keep working after the new one is issued."""

    grace = forms.ChoiceField(
        label="Grace period for the current secret(s)", choices=GRACE_CHOICES, widget=forms.RadioSelect, initial="0"
    )
    custom_amount = forms.IntegerField(label="Custom grace", min_value=1, required=False)
    custom_unit = forms.ChoiceField(choices=[(u, u) for u in UNITS], required=False, initial="hours")
    revoke_tokens = forms.BooleanField(
        label="Also revoke the client's live tokens now",
        required=False,
        help_text="For a leaked secret: tokens already issued end at once. Otherwise they stay valid until they expire.",
    )

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("grace") == "custom":
            amount, unit = data.get("custom_amount"), data.get("custom_unit") or "hours"
            if not amount:
                raise forms.ValidationError("Enter the custom grace period.", code="custom_missing")
            if amount * UNITS[unit] > MAX_GRACE.total_seconds():
                raise forms.ValidationError("The grace period can be at most 90 days.", code="custom_too_long")
            data["grace_period"] = timedelta(seconds=amount * UNITS[unit])
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
