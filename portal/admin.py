"""The staff portal: the Django admin made into Gatehouse's console.

Every change goes through clients.services with `Actor.staff`, so the admin writes the same audit events as the
command line. Secrets appear in exactly one response, the one to the POST that created them (see
docs/decisions.md, "The admin shows a secret in one POST response only").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, F, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from clients import jwks, services
from clients.models import (
    AuditEvent,
    Client,
    ClientKey,
    ClientSecret,
    ResourceServer,
    Scope,
    Trust,
    end_by,
    is_reserved_scope,
)
from portal.forms import (
    ClientRegisterForm,
    KeysAddForm,
    OnceGuard,
    RotateForm,
    SwitchAuthForm,
    TrustForm,
    group_scope_choices,
    introspects_for_field,
    scope_groups,
)
from portal.sessions import sudo_prompt
from tokens import usage
from tokens.addresses import client_address
from tokens.models import AccessToken
from tokens.oauth import issuer
from tokens.services import token_revoke

admin.site.site_header = "Gatehouse"
admin.site.site_title = "Gatehouse staff portal"
admin.site.index_title = "Dashboard"
admin.site.enable_nav_sidebar = False  # the pages are wide tables; the dashboard links everywhere
admin.site.site_url = None  # no public site to link to: the root serves only the OAuth endpoints

EXPIRING_SOON = timedelta(days=7)
LIVE_TOKENS_SHOWN = 50  # on a client's page; `client tokens` and the API list them all
CHART_HEIGHT = 60  # pixels of the tallest bar in the 7-day issuance chart


def issuance_chart(days: list[usage.DailyIssuance]) -> list[dict[str, Any]]:
    """Bars for the client page's 7-day chart, drawn as SVG rectangles (the CSP allows no inline style)."""
    peak = max((day.count for day in days), default=0) or 1
    bars = []
    for index, day in enumerate(days):
        height = round(CHART_HEIGHT * day.count / peak) if day.count else 0
        bars.append(
            {"day": day.day, "count": day.count, "x": index * 44 + 4, "y": CHART_HEIGHT + 16 - height, "height": height}
        )
    return bars


def staff_actor(request: HttpRequest) -> services.Actor:
    """The logged-in staff member, from the address the lockout and the access log name (behind a trusted proxy,
    the forwarded one)."""
    return services.Actor.staff(request.user, client_address(request) or None)


def grants_api_scope(scopes: Any) -> bool:
    """Whether these Scope rows include one of the management API's own (gatehouse:*): granting one, like the
    introspection privilege, needs sudo mode."""
    return any(is_reserved_scope(scope.name) for scope in scopes)


def under_attack(now: datetime | None = None) -> list[AuditEvent]:
    """The clients flagged by the throttle in the last 24 hours (tokens.throttle), newest flag of each first."""
    since = (now or timezone.now()) - timedelta(hours=24)
    events = AuditEvent.objects.filter(action=services.AUTH_FAILURES_ACTION, at__gte=since).select_related("client")
    newest: dict[str, AuditEvent] = {}
    for event in events:  # ordered newest first
        newest.setdefault(event.target, event)
    return list(newest.values())


def badge(state: str) -> str:
    return format_html('<span class="gh-badge gh-badge-{}">{}</span>', state.replace(" ", "-"), state)


def dashboard(now: datetime | None = None) -> dict[str, int]:
    """The numbers on the admin index."""
    now = now or timezone.now()
    clients = Client.objects.aggregate(total=Count("id"), active=Count("id", filter=Q(is_active=True)))
    tokens = usage.issued_since(None, now - timedelta(hours=24))  # purged tokens included: tokens.usage
    return {
        "clients": clients["total"],
        "active": clients["active"],
        "disabled": clients["total"] - clients["active"],
        "tokens_24h": tokens,
        "expiring": ClientSecret.objects.filter(services.secrets_expiring(EXPIRING_SOON, now)).count(),
    }


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("disabled", "Disabled")]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() in ("active", "disabled"):
            return queryset.filter(is_active=self.value() == "active")
        return queryset


class OwnerFilter(admin.SimpleListFilter):
    title = "owner"
    parameter_name = "owner"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        owners = Client.objects.exclude(owner="").order_by("owner").values_list("owner", flat=True).distinct()
        return [("-", "(none)"), *((owner, owner) for owner in owners)]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() is None:
            return queryset
        return queryset.filter(owner="" if self.value() == "-" else self.value())


class TitledListMixin:
    """A plain list title ("Clients") instead of the admin's "Select client to change"."""

    list_title = ""

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = {"title": self.list_title, **(extra_context or {})}
        return super().changelist_view(request, extra_context)  # type: ignore[misc]


class AuditTrailHistoryMixin:
    """The audit trail is the portal's one history: Django's own LogEntry is never written (every change already
    writes an AuditEvent in the services), and the HISTORY button opens the object's audit events."""

    def history_query(self, obj: Any) -> dict[str, Any]:
        raise NotImplementedError

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))  # type: ignore[attr-defined]
        if obj is None or not self.has_view_or_change_permission(request, obj):  # type: ignore[attr-defined]
            raise Http404
        query = urlencode(self.history_query(obj))
        return HttpResponseRedirect(f"{reverse('admin:clients_auditevent_changelist')}?{query}")

    def log_addition(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def log_change(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def log_deletion(self, *args: Any, **kwargs: Any) -> Any:
        return None

    def log_deletions(self, *args: Any, **kwargs: Any) -> Any:
        return None


@dataclass(frozen=True)
class _Confirmable:
    """A one-click change on a client, confirmed on its own page that states the consequence."""

    title: str
    button: str
    permission: str
    danger: bool


_CLIENT_ACTIONS = {
    "disable": _Confirmable("Disable client", "Disable client and revoke its tokens", "clients.change_client", True),
    "enable": _Confirmable("Enable client", "Enable client", "clients.change_client", False),
    "revoke-tokens": _Confirmable("Revoke all live tokens", "Revoke all live tokens", "clients.change_client", True),
}


@admin.register(Client)
class ClientAdmin(AuditTrailHistoryMixin, TitledListMixin, admin.ModelAdmin):
    list_title = "Clients"

    def history_query(self, obj: Client) -> dict[str, Any]:
        return {"client__id__exact": obj.pk}

    list_display = [
        "name",
        "client_id",
        "owner",
        "contact_link",
        "status",
        "scope_list",
        "can_introspect",
        "created_at",
    ]
    list_filter = [StatusFilter, OwnerFilter, "scopes", "can_introspect"]
    search_fields = ["name", "client_id", "owner", "contact"]
    fieldsets = [
        (None, {"fields": ["name", "client_id", "description"]}),
        ("Ownership", {"fields": ["owner", "contact"]}),
        ("Access", {"fields": ["scopes", "can_introspect", "resource_server", "token_ttl"]}),
        ("Record", {"fields": ["created_at", "created_by", "updated_at"]}),
    ]
    readonly_fields = ["client_id", "status", "created_at", "created_by", "updated_at"]
    actions = None  # no bulk actions: clients are never deleted, and each change is confirmed one by one
    save_as = False
    save_on_top = False
    change_form_template = "admin/clients/client/change_form.html"
    change_list_template = "admin/clients/client/change_list.html"
    list_per_page = 50

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("resource_server").prefetch_related("scopes")

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "scopes":
            from django.forms import CheckboxSelectMultiple

            kwargs["widget"] = CheckboxSelectMultiple
            field = super().formfield_for_manytomany(db_field, request, **kwargs)
            return group_scope_choices(field) if field is not None else None
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "resource_server":
            return introspects_for_field()
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="status", ordering="is_active")
    def status(self, obj: Client) -> str:
        return badge("active" if obj.is_active else "disabled")

    @admin.display(description="contact", ordering="contact")
    def contact_link(self, obj: Client) -> str:
        if not obj.contact:
            return "—"
        href = obj.contact if obj.contact.startswith(("http://", "https://")) else f"mailto:{obj.contact}"
        return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', href, obj.contact)

    @admin.display(description="scopes")
    def scope_list(self, obj: Client) -> str:
        return ", ".join(obj.scope_names()) or "—"

    # Permissions: view, change (edit, disable, enable, revoke tokens), rotate (rotate, retire). Never delete.
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_rotate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("clients.rotate_client_secret")

    def get_urls(self) -> list:
        def wrap(view: Any) -> Any:
            return self.admin_site.admin_view(view)

        return [
            path("<path:object_id>/rotate/", wrap(self.rotate_view), name="clients_client_rotate"),
            path(
                "<path:object_id>/secrets/<int:secret_id>/retire/",
                wrap(self.retire_view),
                name="clients_client_retire",
            ),
            path(
                "<path:object_id>/tokens/<int:token_id>/revoke/",
                wrap(self.revoke_token_view),
                name="clients_client_revoke_token",
            ),
            path("<path:object_id>/switch-auth/", wrap(self.switch_auth_view), name="clients_client_switch_auth"),
            path("<path:object_id>/keys/add/", wrap(self.keys_add_view), name="clients_client_keys_add"),
            path(
                "<path:object_id>/keys/<int:key_id>/retire/",
                wrap(self.key_retire_view),
                name="clients_client_key_retire",
            ),
            path("<path:object_id>/<str:action>/confirm/", wrap(self.confirm_view), name="clients_client_confirm"),
            *super().get_urls(),
        ]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        """The change form, refusing in place what the grant rule would refuse (client_update checks it again)."""
        form_class = super().get_form(request, obj, change, **kwargs)
        actor = staff_actor(request)

        def clean(form: Any) -> dict[str, Any]:
            data = form_class.clean(form) or {}
            if data.get("resource_server") is not None and not data.get("can_introspect"):
                raise ValidationError("Only a client that may introspect speaks for a resource server.")
            if obj is not None and "scopes" in data:
                try:
                    services.authorize(
                        actor,
                        client=obj,
                        scopes=[scope.name for scope in data["scopes"]],
                        can_introspect=bool(data.get("can_introspect")),
                        introspects_for=data.get("resource_server"),
                    )
                except services.ScopeNotHeld as refused:
                    raise ValidationError(str(refused)) from None
            return data

        return type(form_class.__name__, (form_class,), {"clean": clean})

    # Editing: the change form saves through client_update, which writes the audit event.
    def save_model(self, request: HttpRequest, obj: Client, form: Any, change: bool) -> None:
        editable = ("name", "description", "owner", "contact", "can_introspect", "resource_server", "token_ttl")
        fields = {f: form.cleaned_data[f] for f in editable}
        scopes = [scope.name for scope in form.cleaned_data["scopes"]]
        client = services.client_update(client=obj, actor=staff_actor(request), scopes=scopes, **fields)
        self._warn_duplicate_name(request, client)

    def _warn_duplicate_name(self, request: HttpRequest, client: Client) -> None:
        """Names need not be unique (docs/decisions.md), but staff should know when one is not."""
        others = Client.objects.named(client.name).exclude(pk=client.pk)
        if others:
            ids = ", ".join(c.client_id for c in others)
            self.message_user(request, f"Another client is also named {client.name}: {ids}.", messages.WARNING)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """Nothing to do: client_update has set the scopes."""

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        client = self.get_object(request, unquote(object_id))
        if request.method == "POST" and client is not None and self.has_change_permission(request, client):
            chosen = [pk for pk in request.POST.getlist("scopes") if pk.isdigit()]  # the form refuses the rest
            granted = Scope.objects.filter(pk__in=chosen).exclude(clients=client)
            newly_introspects = bool(request.POST.get("can_introspect")) and not client.can_introspect
            rebinds = request.POST.get("resource_server", "") != str(client.resource_server_id or "")
            privileged = grants_api_scope(granted) or newly_introspects or (client.can_introspect and rebinds)
            if privileged and (prompt := sudo_prompt(request)):
                return prompt
        extra_context = {**(extra_context or {}), "show_save_and_add_another": False}
        if client is not None and self.has_view_or_change_permission(request, client):
            extra_context.update(self._glance(request, client))
        return super().change_view(request, object_id, form_url, extra_context)

    def _glance(self, request: HttpRequest, client: Client) -> dict[str, Any]:
        now = timezone.now()
        rows = self._secret_rows(client, now)
        used = [when for when in (row["last_used"] for row in rows) if isinstance(when, datetime)]
        tokens = list(usage.live_tokens(client, now)[:LIVE_TOKENS_SHOWN])
        days = usage.daily_issuance(client, now)
        key_rows = [{"key": k, "last_used": k.last_used()} for k in client.keys.all()]
        used += [row["last_used"] for row in key_rows if isinstance(row["last_used"], datetime)]
        return {
            "secret_rows": rows,
            "key_rows": key_rows,
            "grants": scope_groups(client.scopes.select_related("resource_server")),
            "live_tokens": self._live_tokens(client, now),
            "live_token_rows": tokens,
            "live_tokens_shown": LIVE_TOKENS_SHOWN,
            "issued_24h": usage.issued_since(client, now - timedelta(hours=24)),
            "chart": issuance_chart(days),
            "last_token": max(used, default=None),
            "can_rotate": self.has_rotate_permission(request),
            "can_change": self.has_change_permission(request, client),
        }

    @staticmethod
    def _secret_rows(client: Client, now: datetime, secrets: list[ClientSecret] | None = None) -> list[dict[str, Any]]:
        """Each secret with its state, last use and tokens minted in the last 24 h (purged ones included)."""
        secrets = list(client.secrets.all()) if secrets is None else secrets
        used = usage.secret_usage(secrets, now)
        return [
            {
                "secret": s,
                "state": s.state(now).value,
                "last_used": used[s.pk].last_used,
                "issued_24h": used[s.pk].issued_24h,
            }
            for s in secrets
        ]

    def _client(self, request: HttpRequest, object_id: str) -> Client:
        client = self.get_object(request, unquote(object_id))
        if client is None:
            raise Http404("no such client")
        return client

    def _page(self, request: HttpRequest, template: str, title: str, **context: Any) -> TemplateResponse:
        context = {**self.admin_site.each_context(request), "opts": self.opts, "title": title, **context}
        return TemplateResponse(request, f"admin/clients/client/{template}", context)

    def _change_url(self, client: Client) -> str:
        return reverse("admin:clients_client_change", args=[client.pk])

    def _credential_client(self, request: HttpRequest, object_id: str) -> Client | HttpResponse:
        """The client a credential action (rotate, retire, switch, keys) is for, or the answer refusing it: such
        actions need the rotate permission, and the grant rule must let this user manage the client."""
        if not self.has_rotate_permission(request):
            raise PermissionDenied
        client = self._client(request, object_id)
        return self._refused(request, client) or client

    def _refused(self, request: HttpRequest, client: Client) -> HttpResponse | None:
        """Back to the client's page with the reason, if the grant rule keeps this user from managing it."""
        try:
            services.authorize(staff_actor(request), client=client)
        except services.ScopeNotHeld as refused:
            return self._refusal(request, client, refused)
        return None

    def _refusal(self, request: HttpRequest, client: Client, refused: services.ScopeNotHeld) -> HttpResponse:
        self.message_user(request, str(refused), messages.ERROR)
        return HttpResponseRedirect(self._change_url(client))

    def _already_done(self, request: HttpRequest, guard: OnceGuard, nonce: str) -> HttpResponse | None:
        """A resubmitted form (reload, back button) lands on the client page instead of acting twice."""
        if guard.state(nonce) != "used":
            return None
        self.message_user(
            request,
            "This form was already submitted. A secret is shown only once; "
            "if it was not saved, rotate the client's secret to get a new one.",
            messages.WARNING,
        )
        return HttpResponseRedirect(reverse("admin:clients_client_change", args=[guard.client_pk(nonce)]))

    @sensitive_variables("new")
    def _secret_once(self, request: HttpRequest, new: services.NewSecret, title: str) -> TemplateResponse:
        """The one page that ever shows a secret: the answer to the POST that made it (never cached)."""
        token_url = issuer() + reverse("oauth-token")
        curl = f'curl -s -u "{new.client.client_id}:{new.plaintext}" -d grant_type=client_credentials {token_url}'
        return self._page(
            request,
            "secret_once.html",
            title,
            client=new.client,
            plaintext=new.plaintext,
            hint=new.secret.hint if new.secret else "",
            curl=curl,
            previous_end=new.previous_secret_expires_at,
            change_url=self._change_url(new.client),
        )

    @method_decorator(sensitive_post_parameters())
    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        """Register a client; the answer shows its id and first secret once."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        guard = OnceGuard(request)
        form = ClientRegisterForm(request.POST if request.method == "POST" else None)
        if request.method == "POST":
            nonce = request.POST.get("once", "")
            if done := self._already_done(request, guard, nonce):
                return done
            if guard.state(nonce) == "unknown":
                form.add_error(None, "This form has expired. Check the values and register again.")
            elif form.is_valid():
                data = form.cleaned_data
                privileged = grants_api_scope(data["scopes"]) or data["can_introspect"]
                if privileged and (prompt := sudo_prompt(request)):
                    return prompt
                try:
                    new = services.client_create(
                        name=data["name"],
                        description=data["description"],
                        owner=data["owner"],
                        contact=data["contact"],
                        scopes=[scope.name for scope in data["scopes"]],
                        can_introspect=data["can_introspect"],
                        resource_server=data["resource_server"],
                        token_ttl=data["token_ttl"],
                        credential=form.credential(),
                        actor=staff_actor(request),
                    )
                except services.ScopeNotHeld as refused:
                    form.add_error(None, str(refused))
                except ValidationError as invalid:
                    for message in invalid.messages:
                        form.add_error(None, message)
                else:
                    guard.spend(nonce, new.client)
                    self._warn_duplicate_name(request, new.client)
                    if new.plaintext is None:
                        self.message_user(
                            request,
                            f"{new.client.name} is registered as {new.client.client_id}; it authenticates by "
                            f"{new.client.auth_method}, with no secret.",
                            messages.SUCCESS,
                        )
                        return HttpResponseRedirect(self._change_url(new.client))
                    return self._secret_once(request, new, "Client registered")
        return self._page(request, "register.html", "Register a client", form=form, once=guard.issue())

    @method_decorator(sensitive_post_parameters())
    def rotate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Choose a grace period, confirm, then see the new secret once."""
        client = self._credential_client(request, object_id)
        if isinstance(client, HttpResponse):
            return client
        if prompt := sudo_prompt(request):
            return prompt
        guard = OnceGuard(request)
        now = timezone.now()
        form = RotateForm(request.POST if request.method == "POST" else None)
        if request.method == "POST":
            nonce = request.POST.get("once", "")
            if done := self._already_done(request, guard, nonce):
                return done
            if guard.state(nonce) == "unknown":
                form.add_error(None, "This form has expired. Choose the grace period again.")
            elif form.is_valid() and request.POST.get("confirmed") == "yes":
                try:
                    new = services.client_rotate_secret(
                        client=client,
                        grace=form.cleaned_data["grace_period"],
                        revoke_tokens=form.cleaned_data["revoke_tokens"],
                        actor=staff_actor(request),
                    )
                except services.ScopeNotHeld as refusal:
                    return self._refusal(request, client, refusal)
                guard.spend(nonce, client)
                return self._secret_once(request, new, "Secret rotated")
            elif form.is_valid():
                end = now + form.cleaned_data["grace_period"]
                valid = list(client.valid_secrets(now))
                current = [
                    {**row, "ends": end_by(row["secret"].valid_until, end)}
                    for row in self._secret_rows(client, now, valid)
                ]
                return self._page(
                    request, "rotate_confirm.html", "Confirm rotation", client=client, form=form, once=nonce,
                    current=current, end=end, immediate=end <= now,
                    revoke_tokens=form.cleaned_data["revoke_tokens"], live_tokens=self._live_tokens(client, now),
                )  # fmt: skip
        return self._page(request, "rotate.html", "Rotate secret", client=client, form=form, once=guard.issue())

    @method_decorator(sensitive_post_parameters())
    def switch_auth_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Choose how the client authenticates from now on, confirm the consequence, then (for a secret) see it once.

        Every rule is client_switch_auth's: the page only gathers the choice and shows what the service refuses.
        """
        client = self._credential_client(request, object_id)
        if isinstance(client, HttpResponse):
            return client
        if prompt := sudo_prompt(request):
            return prompt
        guard = OnceGuard(request)
        form = SwitchAuthForm(request.POST if request.method == "POST" else None)
        if request.method == "POST":
            nonce = request.POST.get("once", "")
            if done := self._already_done(request, guard, nonce):
                return done
            if guard.state(nonce) == "unknown":
                form.add_error(None, "This form has expired. Choose the way of authenticating again.")
            elif form.is_valid() and request.POST.get("confirmed") == "yes":
                try:
                    new = services.client_switch_auth(
                        client=client, credential=form.credential(), actor=staff_actor(request)
                    )
                except services.ScopeNotHeld as refusal:
                    return self._refusal(request, client, refusal)
                except ValidationError as invalid:
                    for message in invalid.messages:
                        form.add_error(None, message)
                else:
                    guard.spend(nonce, client)
                    if new.plaintext is None:
                        self.message_user(
                            request,
                            f"{client.name} now authenticates by {new.client.auth_method}; its live tokens ended "
                            "and its previous secrets and keys are retired.",
                            messages.SUCCESS,
                        )
                        return HttpResponseRedirect(self._change_url(client))
                    return self._secret_once(request, new, "Authentication switched")
            elif form.is_valid():
                now = timezone.now()
                credential = form.credential()
                return self._page(
                    request, "switch_auth_confirm.html", "Confirm the switch", client=client, form=form, once=nonce,
                    new_method=credential.auth_method, credential=credential,
                    secrets=list(client.valid_secrets(now).filter(retired_at__isnull=True)),
                    keys=list(client.keys.filter(retired_at__isnull=True)),
                    live_tokens=self._live_tokens(client, now),
                )  # fmt: skip
        return self._page(
            request, "switch_auth.html", "Switch authentication", client=client, form=form, once=guard.issue()
        )

    def retire_view(self, request: HttpRequest, object_id: str, secret_id: int) -> HttpResponse:
        """End one secret now, e.g. a leaked one, without touching the others."""
        client = self._credential_client(request, object_id)
        if isinstance(client, HttpResponse):
            return client
        secret = get_object_or_404(ClientSecret, pk=secret_id, client=client)
        if prompt := sudo_prompt(request):
            return prompt
        if request.method == "POST":
            try:
                services.secret_retire(secret=secret, actor=staff_actor(request))
            except services.ScopeNotHeld as refusal:
                return self._refusal(request, client, refusal)
            self.message_user(
                request,
                f"Secret {secret.hint} is retired: it no longer works, and the tokens it issued are revoked.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(self._change_url(client))
        now = timezone.now()
        others = client.valid_secrets(now).exclude(pk=secret.pk).count()
        live = AccessToken.objects.live(now).filter(secret=secret).count()
        (row,) = self._secret_rows(client, now, [secret])
        return self._page(
            request, "retire_confirm.html", "Retire secret", client=client, secret=secret,
            state=secret.state(now).value, others=others, live_tokens=live, row=row,
            locks_out=not others and client.is_active and secret.is_valid(now),
        )  # fmt: skip

    def revoke_token_view(self, request: HttpRequest, object_id: str, token_id: int) -> HttpResponse:
        """End one live token of the client (tokens.services.token_revoke), after a confirmation."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        client = self._client(request, object_id)
        if refused := self._refused(request, client):
            return refused
        now = timezone.now()
        token = get_object_or_404(usage.live_tokens(client, now), pk=token_id)
        if request.method == "POST":
            try:
                revoked = token_revoke(token_id=token.pk, client=client, actor=staff_actor(request))
            except services.ScopeNotHeld as refusal:
                return self._refusal(request, client, refusal)
            text = (
                f"Token {token.pk} of {client.name} is revoked." if revoked else f"Token {token.pk} was no longer live."
            )
            self.message_user(request, text, messages.SUCCESS if revoked else messages.WARNING)
            return HttpResponseRedirect(self._change_url(client))
        return self._page(request, "revoke_token_confirm.html", "Revoke token", client=client, token=token)

    def keys_add_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Paste more public keys for a private_key_jwt client (rotation: add, move the workload, retire)."""
        client = self._credential_client(request, object_id)
        if isinstance(client, HttpResponse):
            return client
        if prompt := sudo_prompt(request):
            return prompt
        form = KeysAddForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            try:
                added = services.client_key_add(
                    client=client, keys=form.cleaned_data["jwks"], actor=staff_actor(request)
                )
            except services.ScopeNotHeld as refusal:
                return self._refusal(request, client, refusal)
            except ValidationError as error:
                form.add_error(None, error.messages)
            else:
                kids = ", ".join(k.kid for k in added)
                self.message_user(request, f"Key(s) {kids} added to {client.name}.", messages.SUCCESS)
                return HttpResponseRedirect(self._change_url(client))
        return self._page(request, "keys_add.html", "Add keys", client=client, form=form)

    def key_retire_view(self, request: HttpRequest, object_id: str, key_id: int) -> HttpResponse:
        """Retire one key now (e.g. a leaked private key): its assertions are refused and its tokens end."""
        client = self._credential_client(request, object_id)
        if isinstance(client, HttpResponse):
            return client
        key = get_object_or_404(ClientKey, pk=key_id, client=client, retired_at__isnull=True)
        if prompt := sudo_prompt(request):
            return prompt
        if request.method == "POST":
            try:
                services.client_key_retire(client=client, kid=key.kid, actor=staff_actor(request))
            except services.ScopeNotHeld as refusal:
                return self._refusal(request, client, refusal)
            self.message_user(
                request,
                f"Key {key.kid} is retired: assertions it signs are refused, and the tokens it issued are revoked.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(self._change_url(client))
        now = timezone.now()
        others = client.keys.filter(retired_at__isnull=True).exclude(pk=key.pk).count()
        live = AccessToken.objects.live(now).filter(key=key).count()
        return self._page(
            request, "key_retire_confirm.html", "Retire key", client=client, key=key, others=others, live_tokens=live
        )

    def confirm_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        """Disable, enable or revoke all live tokens, after a page that states the consequence."""
        step = _CLIENT_ACTIONS.get(action)
        if step is None:
            raise Http404("no such action")
        if not request.user.has_perm(step.permission):
            raise PermissionDenied
        client = self._client(request, object_id)
        if refused := self._refused(request, client):
            return refused
        if request.method == "POST":
            actor = staff_actor(request)
            try:
                if action == "disable":
                    services.client_disable(client=client, actor=actor)
                    text = f"{client.name} is disabled and its live tokens are revoked."
                elif action == "enable":
                    services.client_enable(client=client, actor=actor)
                    text = f"{client.name} is enabled."
                else:
                    revoked = services.client_revoke_tokens(client=client, actor=actor)
                    text = f"{revoked} live token(s) of {client.name} revoked."
            except services.ScopeNotHeld as refusal:
                return self._refusal(request, client, refusal)
            self.message_user(request, text, messages.SUCCESS)
            return HttpResponseRedirect(self._change_url(client))
        live = self._live_tokens(client, timezone.now())
        return self._page(
            request, "confirm.html", step.title, client=client, action=action, step=step, live_tokens=live
        )

    @staticmethod
    def _live_tokens(client: Client, now: datetime) -> int:
        return AccessToken.objects.live(now).filter(client=client).count()


_TRUST_FIELDS = ("name", "issuer", "audience", "key_source", "jwks_uri", "algorithms", "is_active", "created_at",
                 "created_by", "bound_clients")  # fmt: skip


@admin.register(Trust)
class TrustAdmin(TitledListMixin, admin.ModelAdmin):
    """Trusted issuers (federated workload identity): registered through trust_create, tested from here."""

    list_title = "Trusted issuers"
    list_display = ["name", "issuer", "audience", "key_source", "client_count", "is_active"]
    fields = _TRUST_FIELDS
    readonly_fields = _TRUST_FIELDS
    actions = None
    change_form_template = "admin/clients/trust/change_form.html"

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).annotate(client_total=Count("clients"))

    @admin.display(description="clients", ordering="client_total")
    def client_count(self, obj: Trust) -> int:
        return getattr(obj, "client_total", 0)

    @admin.display(description="keys")
    def key_source(self, obj: Trust) -> str:
        return obj.key_source

    @admin.display(description="bound clients")
    def bound_clients(self, obj: Trust) -> str:
        rows = obj.clients.order_by("subject")
        return format_html_join(", ", "{} ({})", ((c.subject, c.name) for c in rows)) or "—"

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A trust makes its issuer every bound client: the same permission as granting privileged access.
        return request.user.has_perm("clients.grant_privileged_access")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list:
        return [
            path("<path:object_id>/test/", self.admin_site.admin_view(self.test_view), name="clients_trust_test"),
            *(
                path(
                    f"<path:object_id>/{action}/",
                    self.admin_site.admin_view(self.toggle_view),
                    {"action": action},
                    name=f"clients_trust_{action}",
                )
                for action in ("disable", "enable")
            ),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        if prompt := sudo_prompt(request):
            return prompt
        form = TrustForm(request.POST if request.method == "POST" else None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                trust = services.trust_create(
                    name=data["name"],
                    issuer=data["issuer"],
                    audience=data["audience"],
                    keys=data["jwks"] if data["source"] == "jwks" else None,
                    jwks_uri=data["jwks_uri"] if data["source"] == "jwks_uri" else "",
                    discover=data["source"] == "discover",
                    algorithms=data["algorithms"],
                    actor=staff_actor(request),
                )
            except (ValidationError, services.ScopeNotHeld) as refused:
                form.add_error(None, getattr(refused, "messages", None) or str(refused))
            else:
                self.message_user(request, f"Trust {trust.name} registered.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:clients_trust_change", args=[trust.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Register a trust",
            "form": form,
        }
        return TemplateResponse(request, "admin/clients/trust/add.html", context)

    def toggle_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        """Disable a trust (its clients' live tokens end) or enable it again; POST only, privileged staff."""
        if action not in ("disable", "enable"):
            raise Http404("no such action")
        if not self.has_add_permission(request):
            raise PermissionDenied
        trust = get_object_or_404(Trust, pk=unquote(object_id))
        change_url = reverse("admin:clients_trust_change", args=[trust.pk])
        if request.method != "POST":
            return HttpResponseRedirect(change_url)
        if prompt := sudo_prompt(request):
            return prompt
        revoked = services.trust_set_active(trust=trust, active=action == "enable", actor=staff_actor(request))
        text = f"Trust {trust.name} is {action}d" + (
            f"; {revoked} live token(s) revoked." if action == "disable" else "."
        )
        self.message_user(request, text, messages.SUCCESS)
        return HttpResponseRedirect(change_url)

    def test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The test button: fetch the issuer's keys now, as Gatehouse would, and show their ids."""
        trust = get_object_or_404(Trust, pk=unquote(object_id))
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:clients_trust_change", args=[trust.pk]))
        try:
            keys = services.trust_keys(trust)
        except jwks.JWKSError as error:
            self.message_user(request, f"Fetching the keys of {trust.name} failed: {error}", messages.ERROR)
        else:
            kids = ", ".join(k.kid for k in keys)
            self.message_user(request, f"{trust.name} publishes {len(keys)} key(s): {kids}", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:clients_trust_change", args=[trust.pk]))


@admin.register(Scope)
class ScopeAdmin(AuditTrailHistoryMixin, TitledListMixin, admin.ModelAdmin):
    list_title = "Scope catalogue"

    def history_query(self, obj: Scope) -> dict[str, Any]:
        return {"target": obj.name}

    # Grouped by resource server: global scopes first, then each resource server's, by identifier.
    list_display = ["resource_group", "name", "description", "client_count"]
    list_display_links = ["name"]
    list_filter = [("resource_server", admin.RelatedOnlyFieldListFilter)]
    ordering = [F("resource_server__identifier").asc(nulls_first=True), "name"]
    search_fields = ["name", "description", "resource_server__identifier"]
    actions = None  # bulk delete would bypass the in-use check and the audit trail

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("resource_server").annotate(client_count=Count("clients"))

    @admin.display(description="resource server", ordering="resource_server__identifier")
    def resource_group(self, obj: Scope) -> str:
        if obj.resource_server is None:
            return format_html('<span class="{}">global</span>', "gh-resource-global")
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:clients_resourceserver_change", args=[obj.resource_server.pk]),
            obj.resource_server.identifier,
        )

    @admin.display(description="clients", ordering="client_count")
    def client_count(self, obj: Scope) -> int:
        return obj.client_count  # type: ignore[attr-defined]

    def get_fields(self, request: HttpRequest, obj: Scope | None = None) -> list[str]:  # type: ignore[override]
        if obj:
            return ["name", "resource_server", "description", "held_by", "created_at"]
        return ["name", "resource_server", "description"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "resource_server":
            kwargs["queryset"] = ResourceServer.objects.filter(retired_at__isnull=True)
            kwargs["empty_label"] = "none: a global scope"
            kwargs["help_text"] = (
                "The resource server it belongs to (needs the permission to grant privileged access). Moving an "
                "existing scope ends the live tokens of every client holding it."
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    # Gatehouse's own scopes (gatehouse:*) are made by migrations and shown read-only to everyone.
    def has_change_permission(self, request: HttpRequest, obj: Scope | None = None) -> bool:
        return super().has_change_permission(request, obj) and not (obj and is_reserved_scope(obj.name))

    def has_delete_permission(self, request: HttpRequest, obj: Scope | None = None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj and is_reserved_scope(obj.name))

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change, **kwargs)

        actor = staff_actor(request)

        def clean_name(form: Any) -> str:
            name = form.cleaned_data["name"]
            if is_reserved_scope(name):
                raise ValidationError(str(services.ReservedScope(name, "create")))
            return name

        def clean_resource_server(form: Any) -> ResourceServer | None:
            chosen = form.cleaned_data.get("resource_server")
            before = obj.resource_server if obj is not None else None
            if chosen != before:
                try:
                    services.authorize_resource_servers(actor, "choosing the resource server of a scope")
                    if obj is not None:
                        services.authorize(actor, scopes=[obj.name])
                except services.ScopeNotHeld as refused:
                    raise ValidationError(str(refused)) from None
            return chosen

        methods: dict[str, Any] = {"clean_resource_server": clean_resource_server}
        if not obj:
            methods["clean_name"] = clean_name
        return type(form_class.__name__, (form_class,), methods)

    def get_readonly_fields(self, request: HttpRequest, obj: Scope | None = None) -> list[str]:
        return ["name", "held_by", "created_at"] if obj else []

    @admin.display(description="held by")
    def held_by(self, obj: Scope) -> str:
        holders = obj.clients.order_by("name")
        if not holders:
            return "no client"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:clients_client_change", args=[c.pk]), str(c)) for c in holders),
        )

    def save_model(self, request: HttpRequest, obj: Scope, form: Any, change: bool) -> None:
        description = form.cleaned_data["description"]
        owner = form.cleaned_data.get("resource_server")
        if change:
            # The service reads the description before the change from the row, not from the edited instance.
            before = Scope.objects.select_related("resource_server").get(pk=obj.pk)
            moving = owner != before.resource_server
            services.scope_update(
                scope=before,
                description=description,
                resource_server=owner if moving else services.KEEP,
                actor=staff_actor(request),
            )
            if moving:
                self.message_user(
                    request,
                    f"{obj.name} moved; the live tokens of the clients holding it were ended.",
                    messages.WARNING,
                )
        else:
            created = services.scope_create(
                name=obj.name, description=description, resource_server=owner, actor=staff_actor(request)
            )
            obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: Scope) -> None:
        services.scope_delete(scope=obj, actor=staff_actor(request))

    def render_delete_form(self, request: HttpRequest, context: dict) -> HttpResponse:
        context["holders"] = list(context["object"].clients.order_by("name"))
        return super().render_delete_form(request, context)

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except services.ScopeInUse as refused:
            self.message_user(request, refused.message, messages.ERROR)
            return HttpResponseRedirect(reverse("admin:clients_scope_change", args=[unquote(object_id)]))


@admin.register(ResourceServer)
class ResourceServerAdmin(AuditTrailHistoryMixin, TitledListMixin, admin.ModelAdmin):
    """Resource servers: registering, changing and retiring one is privileged (clients.grant_privileged_access, on
    top of the model permissions), like granting the introspection privilege: the services check it again."""

    list_title = "Resource servers"

    def history_query(self, obj: ResourceServer) -> dict[str, Any]:
        return {"target": obj.identifier}

    list_display = ["identifier", "name", "owner", "status", "scope_count", "introspector_count"]
    search_fields = ["identifier", "name", "owner"]
    actions = None
    change_form_template = "admin/clients/resourceserver/change_form.html"

    def get_queryset(self, request: HttpRequest) -> Any:
        return (
            super()
            .get_queryset(request)
            .annotate(
                scope_count=Count("scopes", distinct=True), introspector_count=Count("introspectors", distinct=True)
            )
        )

    @admin.display(description="status", ordering="retired_at")
    def status(self, obj: ResourceServer) -> str:
        return badge("active" if obj.is_active else "retired")

    @admin.display(description="scopes", ordering="scope_count")
    def scope_count(self, obj: ResourceServer) -> int:
        return obj.scope_count  # type: ignore[attr-defined]

    @admin.display(description="introspecting clients", ordering="introspector_count")
    def introspector_count(self, obj: ResourceServer) -> int:
        return obj.introspector_count  # type: ignore[attr-defined]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:  # type: ignore[override]
        if obj is None:
            return ["identifier", "name", "description", "owner"]
        return ["identifier", "name", "description", "owner", "scope_list", "introspector_list", "record"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:  # type: ignore[override]
        return ["identifier", "scope_list", "introspector_list", "record"] if obj else []

    @admin.display(description="scopes")
    def scope_list(self, obj: ResourceServer) -> str:
        scopes = obj.scopes.order_by("name")
        if not scopes:
            return "none yet"
        return format_html_join(
            ", ", '<a href="{}">{}</a>', ((reverse("admin:clients_scope_change", args=[s.pk]), s.name) for s in scopes)
        )

    @admin.display(description="introspecting clients")
    def introspector_list(self, obj: ResourceServer) -> str:
        clients = obj.introspectors.order_by("name")
        if not clients:
            return "none"
        return format_html_join(
            ", ",
            '<a href="{}">{}</a>',
            ((reverse("admin:clients_client_change", args=[c.pk]), str(c)) for c in clients),
        )

    @admin.display(description="record")
    def record(self, obj: ResourceServer) -> str:
        text = f"created {obj.created_at:%Y-%m-%d %H:%M} by {obj.created_by or '?'}"
        if obj.retired_at:
            text += f"; retired {obj.retired_at:%Y-%m-%d %H:%M} by {obj.retired_by}"
        return text

    def _privileged(self, request: HttpRequest) -> bool:
        return request.user.has_perm(services.PRIVILEGED_PERMISSION)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and self._privileged(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        active = obj is None or obj.is_active
        return super().has_change_permission(request, obj) and self._privileged(request) and active

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # retired (kept, so its identifier is never reused), never deleted

    def save_model(self, request: HttpRequest, obj: ResourceServer, form: Any, change: bool) -> None:
        fields = {f: form.cleaned_data[f] for f in ("name", "description", "owner")}
        if change:
            services.resource_server_update(
                resource_server=ResourceServer.objects.get(pk=obj.pk), actor=staff_actor(request), **fields
            )
        else:
            created = services.resource_server_create(
                identifier=form.cleaned_data["identifier"], actor=staff_actor(request), **fields
            )
            obj.pk = created.pk

    def get_urls(self) -> list:
        return [
            path(
                "<path:object_id>/retire/",
                self.admin_site.admin_view(self.retire_view),
                name="clients_resourceserver_retire",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        resource_server = self.get_object(request, unquote(object_id))
        can_retire = resource_server is not None and self.has_change_permission(request, resource_server)
        extra_context = {**(extra_context or {}), "can_retire": can_retire, "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, extra_context)

    def retire_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """Confirm, then retire; refused with the list of clients still holding its scopes."""
        resource_server = self.get_object(request, unquote(object_id))
        if resource_server is None:
            raise Http404("no such resource server")
        if not self.has_change_permission(request, resource_server):
            raise PermissionDenied
        change_url = reverse("admin:clients_resourceserver_change", args=[resource_server.pk])
        if request.method == "POST":
            try:
                services.resource_server_retire(resource_server=resource_server, actor=staff_actor(request))
            except services.ResourceInUse as refused:
                self.message_user(request, refused.messages[0], messages.ERROR)
            else:
                self.message_user(request, f"{resource_server.identifier} is retired.", messages.SUCCESS)
            return HttpResponseRedirect(change_url)
        holders = list(Client.objects.filter(scopes__resource_server=resource_server).distinct().order_by("name"))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Retire {resource_server.identifier}",
            "resource_server": resource_server,
            "holders": holders,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/clients/resourceserver/retire.html", context)


class ExpiringFilter(admin.SimpleListFilter):
    title = "ends"
    parameter_name = "ends_within"
    PERIODS = {"1d": timedelta(days=1), "7d": EXPIRING_SOON, "30d": timedelta(days=30)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("1d", "within 24 hours"), ("7d", "within 7 days"), ("30d", "within 30 days")]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        period = self.PERIODS.get(self.value() or "")
        return queryset.filter(services.secrets_expiring(period)) if period else queryset


class ReadOnlyAdmin(TitledListMixin, admin.ModelAdmin):
    """Viewable by staff with the view permission; nobody, not even a superuser, can add, change or delete."""

    actions = None

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _client_link(client: Client | None) -> str:
    if client is None:
        return "—"
    return format_html('<a href="{}">{}</a>', reverse("admin:clients_client_change", args=[client.pk]), client.name)


@admin.register(ClientSecret)
class ClientSecretAdmin(AuditTrailHistoryMixin, ReadOnlyAdmin):
    list_title = "Client secrets"

    def history_query(self, obj: ClientSecret) -> dict[str, Any]:
        return {"client__id__exact": obj.client_id}

    list_display = ["hint", "client_name", "state", "valid_until", "created_at", "created_by"]
    list_filter = [ExpiringFilter]
    list_select_related = ["client"]
    search_fields = ["client__name", "client__client_id"]
    ordering = [F("valid_until").asc(nulls_last=True), "-created_at"]
    fields = ["hint", "client_name", "state", "created_at", "created_by", "valid_until", "retired_at", "retired_by"]
    readonly_fields = fields  # type: ignore[assignment]  # the stubs type fields as nested groups; these are flat

    @admin.display(description="client", ordering="client__name")
    def client_name(self, obj: ClientSecret) -> str:
        return _client_link(obj.client)

    @admin.display(description="state")
    def state(self, obj: ClientSecret) -> str:
        return badge(obj.state().value)


class DateFilter(admin.DateFieldListFilter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = "date"


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_title = "Audit trail"
    list_display = ["at", "actor_type", "actor", "address", "action", "client_name", "target", "summary"]
    list_filter = ["action", "actor_type", ("client", admin.RelatedOnlyFieldListFilter), ("at", DateFilter)]
    list_select_related = ["client"]
    search_fields = ["actor", "target", "client__name", "client__client_id"]
    date_hierarchy = "at"
    fields = ["at", "actor_type", "actor", "address", "action", "client_name", "target", "change_table"]
    readonly_fields = fields  # type: ignore[assignment]  # the stubs type fields as nested groups; these are flat
    list_per_page = 100

    @admin.display(description="client", ordering="client__name")
    def client_name(self, obj: AuditEvent) -> str:
        return _client_link(obj.client)

    @admin.display(description="changed")
    def summary(self, obj: AuditEvent) -> str:
        return ", ".join(sorted(obj.changes)) or "—"

    @admin.display(description="changes")
    def change_table(self, obj: AuditEvent) -> str:
        if not obj.changes:
            return "—"
        pairs = ((k, *(v if isinstance(v, list) and len(v) == 2 else ["", v])) for k, v in obj.changes.items())
        rows = format_html_join("", "<tr><th>{}</th><td>{}</td><td>{}</td></tr>", pairs)
        return format_html(
            '<table class="gh-changes"><tr><th>field</th><th>before</th><th>after</th></tr>{}</table>', rows
        )
