from typing import ClassVar

from django.conf import settings
from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class AuditEvent(models.Model):
    """One status change of an object: who moved it (empty for the system), when and why.
    Subclasses add the foreign key named `subject` and `from_status`/`to_status` with their
    own choices; services write these rows, admins only read them."""

    subject: ClassVar[str]
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        subject_id = getattr(self, f"{self.subject}_id")
        return f"{subject_id}: {self.from_status or '-'} -> {self.to_status}"  # type: ignore[attr-defined]
