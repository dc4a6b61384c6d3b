from django.conf import settings
from django.db import models


class Notification(models.Model):
    """One event for one user: shown in their live stream and kept for the app to list."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=40, db_index=True)
    title = models.CharField(max_length=200)
    body = models.CharField(max_length=1000, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="notification_user_time")]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}"


class Channel(models.TextChoices):
    EMAIL = "email", "E-mail"
    SMS = "sms", "Text message"


class RecipientMessage(models.Model):
    """A message to a parcel's recipient (who has no account): recorded with the step that
    causes it, sent by a task after commit, once (`key` is unique per delivery, event and
    channel)."""

    key = models.CharField(max_length=80, unique=True)
    parcel_id = models.BigIntegerField(db_index=True)
    event = models.CharField(max_length=20)
    channel = models.CharField(max_length=5, choices=Channel.choices)
    to = models.CharField(max_length=254)
    language = models.CharField(max_length=10, blank=True)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event} {self.channel} to parcel {self.parcel_id}'s recipient"
