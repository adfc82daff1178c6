"""The management API's own records: the Idempotency-Key of each create it made."""

from django.db import models
from django.utils import timezone

from clients.models import Client


class IdempotencyKey(models.Model):
    """A create made through the API with an Idempotency-Key header, so that a retry returns the same client.

    The unique constraint on (caller, key) is what stops two concurrent retries from registering two clients.
    The response's secret is never kept: a replay answers with the client, without its secret.
    """

    caller = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request body, to spot a reused key.")
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "clients_idempotencykey"  # made by clients' migration 0003, kept when the model moved here
        constraints = [models.UniqueConstraint(fields=["caller", "key"], name="one_create_per_idempotency_key")]

    def __str__(self) -> str:
        return f"{self.key} by {self.caller_id}"
