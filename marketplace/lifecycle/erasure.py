"""Erasing a person's account (issue 14, "Personal data"; docs/personal-data.md).

`account_erase` blanks or anonymises every personal field the person left in Waypost, deletes
what exists only for them (their positions, notifications, photos), and keeps what the ledger,
tax and audit rules and the other people they dealt with still need: the rows stay, their
foreign keys still point at the (now anonymous) account, so payments, transfers, ledger entries
and status histories stay whole and the ledger still balances.

What counts as personal is declared once, in PERSONAL: a model, its personal columns, which of
its rows are the person's, and what erasure does to them. NOT_PERSONAL names, with a reason, every
other text, file or place column of a model that points at an account; a test walks every model
and fails on a column that is in neither, so a new personal field cannot be forgotten.

While something is still open (a parcel on its way or not yet closed, a delivery the person
carries, money held in escrow, an open dispute, money owed to them that has not left), erasure is
refused with the reasons (`erasure_blockers`): the other party and the ledger still need them.

Lock order: the person's row first, then what the cancelling services lock (parcels, trips).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.hashers import make_password
from django.contrib.contenttypes.models import ContentType
from django.contrib.gis.db import models as gis_models
from django.contrib.gis.geos import LineString, Point
from django.db import models, transaction
from django.db.models import Q, QuerySet, Sum
from django.db.models.fields.files import FieldFile
from django.utils import timezone
from django.utils.translation import gettext
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from marketplace.accounts.models import CourierProfile, User
from marketplace.chat.models import Message
from marketplace.core.exceptions import ConflictError
from marketplace.core.transactions import files_delete_on_commit
from marketplace.deliveries.models import ACTIVE_STATUSES, Delivery, DeliveryEvent, Rating
from marketplace.hooks.models import WebhookEndpoint
from marketplace.lifecycle.cancelling import trip_cancel
from marketplace.lifecycle.commuting import trip_series_stop
from marketplace.merchants.models import (
    BulkUpload,
    MemberRole,
    Merchant,
    MerchantApiKey,
    MerchantMember,
)
from marketplace.notifications.models import Notification, RecipientMessage
from marketplace.parcels.models import HeldQuote, Parcel, ParcelEvent, ParcelStatus
from marketplace.payments.models import (
    BankPayout,
    BankPayoutStatus,
    Dispute,
    DisputeStatus,
    LedgerAccount,
    LedgerEntry,
    Payment,
    PaymentStatus,
    Transfer,
    TransferStatus,
)
from marketplace.returns.models import ParcelReturn, ReturnEvent, ReturnPhoto, ReturnStatus
from marketplace.tracking.models import LivePosition, LocationPing
from marketplace.trips.models import Trip, TripEvent, TripSeries, TripStatus

log = logging.getLogger(__name__)

ERASED_DOMAIN = "erased.invalid"
# Shown where a text must stay (a chat message the other party reads, a parcel's description).
ERASED_TEXT = "[erased]"
# Places are cut to this many decimals of a degree (about 1 km): routes and addresses no longer
# point at a door, while distances and areas in reports stay roughly right.
COARSE_DECIMALS = 2

# A parcel in one of these is done with (a delivered one may still be sent back: see the
# returns blocker). Anything else is open and blocks erasure.
PARCEL_DONE = frozenset(
    {ParcelStatus.DELIVERED, ParcelStatus.RETURNED, ParcelStatus.CANCELLED, ParcelStatus.EXPIRED}
)
RETURN_OPEN = frozenset({ReturnStatus.REQUESTED, ReturnStatus.APPROVED})
PAYOUT_OPEN = frozenset({BankPayoutStatus.PENDING, BankPayoutStatus.IN_TRANSIT})

ERASE = "erase"  # blank, placeholder or coarsen the fields; the rows stay
DELETE = "delete"  # the rows go (and their files)
UNLINK = "unlink"  # the rows are someone else's: the nullable foreign key to the person is cleared


def erased_email(user_id: int) -> str:
    return f"erased-{user_id}@{ERASED_DOMAIN}"


@dataclass(frozen=True)
class Personal:
    """Personal columns of a model, the person's rows of it, and what erasure does to them."""

    model: type[models.Model]
    fields: tuple[str, ...]
    rows: Callable[[User], QuerySet[Any]]
    action: str = ERASE
    # Field -> value written instead of "" (where a text must stay readable).
    placeholders: tuple[tuple[str, Any], ...] = ()


def _parcels_of(user: User) -> QuerySet[Parcel]:
    return Parcel.objects.filter(shipper=user)


def _deliveries_of(user: User) -> QuerySet[Delivery]:
    """Deliveries the person carried, and those of their parcels: the photos, signatures and
    failure notes in them are about the person's addresses or were made by them."""
    return Delivery.objects.filter(Q(courier=user) | Q(parcel__shipper=user))


def _admin_log_of(user: User) -> QuerySet[LogEntry]:
    """The admin's history rows about the person's account and courier profile (their
    `object_repr` is the e-mail address the object was shown as)."""
    profile = CourierProfile.objects.filter(user=user).values_list("pk", flat=True).first()
    about = Q(content_type=ContentType.objects.get_for_model(User), object_id=str(user.pk))
    if profile is not None:
        about |= Q(
            content_type=ContentType.objects.get_for_model(CourierProfile), object_id=str(profile)
        )
    return LogEntry.objects.filter(about)


PERSONAL: tuple[Personal, ...] = (
    Personal(
        User,
        ("email", "full_name", "phone", "password", "time_zone", "language"),
        lambda u: User.objects.filter(pk=u.pk),
    ),
    Personal(
        CourierProfile, ("verification_note",), lambda u: CourierProfile.objects.filter(user=u)
    ),
    Personal(
        Parcel,
        (
            "description",
            "photo",
            "pickup_point",
            "pickup_address",
            "pickup_contact_name",
            "pickup_contact_phone",
            "dropoff_point",
            "dropoff_address",
            "dropoff_contact_name",
            "dropoff_contact_phone",
            "recipient_email",
            "recipient_language",
        ),
        _parcels_of,
        placeholders=(("description", ERASED_TEXT),),
    ),
    # What was sent to the recipients of the person's parcels (their address, the tracking link).
    Personal(
        RecipientMessage,
        ("to", "subject", "body"),
        lambda u: RecipientMessage.objects.filter(parcel_id__in=_parcels_of(u).values("pk")),
    ),
    Personal(
        HeldQuote,
        ("pickup_point", "dropoff_point"),
        lambda u: HeldQuote.objects.filter(requested_by=u),
        DELETE,
    ),
    # Status histories stay (who = the anonymous account, what, when); the free text the person
    # typed into them (a reason for a cancellation or a return) goes.
    Personal(ParcelEvent, ("note",), lambda u: ParcelEvent.objects.filter(actor=u)),
    Personal(TripEvent, ("note",), lambda u: TripEvent.objects.filter(actor=u)),
    Personal(DeliveryEvent, ("note",), lambda u: DeliveryEvent.objects.filter(actor=u)),
    Personal(ReturnEvent, ("note",), lambda u: ReturnEvent.objects.filter(actor=u)),
    Personal(
        TripSeries,
        ("origin", "origin_label", "destination", "destination_label", "route"),
        lambda u: TripSeries.objects.filter(courier=u),
    ),
    Personal(
        Trip,
        ("origin", "origin_label", "destination", "destination_label", "route"),
        lambda u: Trip.objects.filter(courier=u),
    ),
    Personal(Delivery, ("proof_photo", "signature_image", "failure_reason"), _deliveries_of),
    Personal(
        LocationPing,
        ("point",),
        lambda u: LocationPing.objects.filter(delivery__courier=u),
        DELETE,
    ),
    Personal(
        LivePosition,
        ("point",),
        lambda u: LivePosition.objects.filter(delivery__courier=u),
        DELETE,
    ),
    Personal(Rating, ("comment",), lambda u: Rating.objects.filter(rater=u)),
    Personal(
        Notification, ("title", "body"), lambda u: Notification.objects.filter(user=u), DELETE
    ),
    # The other party's side of the conversation stays, so their messages still read in order.
    Personal(
        Message,
        ("body", "image"),
        lambda u: Message.objects.filter(sender=u),
        placeholders=(("body", ERASED_TEXT),),
    ),
    Personal(ParcelReturn, ("reason",), lambda u: ParcelReturn.objects.filter(requester=u)),
    Personal(
        ParcelReturn, ("refusal_reason",), lambda u: ParcelReturn.objects.filter(decided_by=u)
    ),
    Personal(
        ReturnPhoto,
        ("image",),
        lambda u: ReturnPhoto.objects.filter(
            Q(parcel_return__requester=u) | Q(parcel_return__original__shipper=u)
        ),
        DELETE,
    ),
    Personal(MerchantMember, ("user",), lambda u: MerchantMember.objects.filter(user=u), DELETE),
    # The merchant's keys and uploads are the business's: they stay, without the person's name.
    Personal(
        MerchantApiKey,
        ("created_by",),
        lambda u: MerchantApiKey.objects.filter(created_by=u),
        UNLINK,
    ),
    Personal(
        BulkUpload, ("uploaded_by",), lambda u: BulkUpload.objects.filter(uploaded_by=u), UNLINK
    ),
    Personal(LogEntry, ("object_repr",), _admin_log_of),
)

# Text, file and place columns of models that point at an account, which are not the person's
# personal data, and why. (The test of the registry fails on a column in neither list.)
NOT_PERSONAL: dict[str, str] = {
    "admin.LogEntry.object_id": "the id of the object a staff member changed",
    "admin.LogEntry.change_message": "which fields a staff member changed (names, not values)",
    "token_blacklist.OutstandingToken.jti": "a token id; the token is blacklisted on erasure",
    "token_blacklist.OutstandingToken.token": (
        "a signed token holding only the account id; kept, blacklisted, so it is never usable"
    ),
    "accounts.CourierProfile.vehicle_type": "a choice (bike, car), names no one",
    "accounts.CourierProfile.max_size_class": "a choice, names no one",
    "accounts.CourierProfile.verification_status": "a choice, names no one",
    "merchants.MerchantMember.role": "a choice; the membership row is deleted",
    "merchants.MerchantApiKey.id": "the merchant's key (the business's, not the person's)",
    "merchants.MerchantApiKey.prefix": "the merchant's key",
    "merchants.MerchantApiKey.hashed_key": "the merchant's key (a hash)",
    "merchants.MerchantApiKey.name": "the merchant's label for its key",
    "merchants.MerchantApiKey.scope": "a choice",
    "merchants.MerchantApiKey.mode": "a choice",
    "merchants.BulkUpload.filename": "the merchant's upload (its records)",
    "merchants.BulkUpload.mode": "a choice",
    "merchants.BulkUpload.status": "a choice",
    "merchants.BulkUpload.error": "a system message about the upload",
    "parcels.Parcel.status": "a status",
    "parcels.Parcel.size_class": "a choice",
    "parcels.Parcel.currency": "a currency code, needed by the ledger",
    "parcels.Parcel.external_reference": "the merchant's order number (the business's record)",
    "parcels.Parcel.sandbox_outcome": "a choice",
    "parcels.ParcelEvent.from_status": "a status (the audit trail)",
    "parcels.ParcelEvent.to_status": "a status (the audit trail)",
    "parcels.HeldQuote.size_class": "a choice",
    "parcels.HeldQuote.currency": "a currency code",
    "trips.TripSeries.rrule": "when a commute repeats; no place or person",
    "trips.TripSeries.time_zone": "the zone the series' times are read in; names no one",
    "trips.TripSeries.route_source": "a choice",
    "trips.TripSeries.max_size_class": "a choice",
    "trips.Trip.status": "a status",
    "trips.Trip.vehicle_type": "a choice",
    "trips.Trip.route_source": "a choice",
    "trips.Trip.max_size_class": "a choice",
    "trips.TripEvent.from_status": "a status (the audit trail)",
    "trips.TripEvent.to_status": "a status (the audit trail)",
    "matching.Offer.status": "a status",
    "deliveries.Delivery.status": "a status",
    "deliveries.Delivery.pickup_code": "a one-time code of a finished delivery, names no one",
    "deliveries.Delivery.delivery_code": "a one-time code of a finished delivery, names no one",
    "deliveries.Delivery.cancelled_by": "a choice",
    "deliveries.DeliveryEvent.from_status": "a status (the audit trail)",
    "deliveries.DeliveryEvent.to_status": "a status (the audit trail)",
    "payments.Payment.status": "the escrow's state (ledger, tax and audit records)",
    "payments.Payment.status_before_dispute": "the escrow's state",
    "payments.Payment.currency": "ledger record",
    "payments.Payment.stripe_payment_intent_id": "Stripe's id: reconciliation and refunds",
    "payments.Payment.client_secret": "a Stripe secret of a finished intent, names no one",
    "payments.Payment.stripe_charge_id": "Stripe's id: reconciliation, disputes",
    "payments.Payment.failure_message": "Stripe's decline message, names no one",
    "payments.ConnectedAccount.stripe_account_id": (
        "the courier's Stripe account: Stripe holds its identity data under its own retention; "
        "the id is needed to reconcile transfers and payouts"
    ),
    "payments.Transfer.kind": "ledger record",
    "payments.Transfer.currency": "ledger record",
    "payments.Transfer.status": "ledger record",
    "payments.Transfer.idempotency_key": "ledger record (derived from ids)",
    "payments.Transfer.stripe_transfer_id": "Stripe's id: reconciliation",
    "payments.Dispute.stripe_dispute_id": "Stripe's id",
    "payments.Dispute.reason": "Stripe's reason code",
    "payments.Dispute.status": "a status",
    "payments.Dispute.resolution": "the staff member's decision on a dispute (audit record)",
    "payments.Tip.currency": "ledger record",
    "payments.Tip.stripe_payment_intent_id": "Stripe's id: reconciliation",
    "payments.Tip.client_secret": "a Stripe secret of a finished intent, names no one",
    "payments.Tip.stripe_charge_id": "Stripe's id: reconciliation",
    "payments.LedgerEntry.account": "ledger record",
    "notifications.Notification.kind": "a kind; the rows are deleted",
    "returns.ParcelReturn.status": "a status",
    "returns.ParcelReturn.requested_by": "a choice",
    "returns.ParcelReturn.reason_code": "a choice",
    "returns.ParcelReturn.paid_by": "a choice (who paid the way back: ledger)",
    "returns.ReturnEvent.from_status": "a status (the audit trail)",
    "returns.ReturnEvent.to_status": "a status (the audit trail)",
}


# --- what blocks an erasure --------------------------------------------------------------------


@dataclass(frozen=True)
class Blocker:
    code: str
    message: str


def _payments_involving(user: User) -> QuerySet[Payment]:
    """Payments the person made, and those of the parcels they carried."""
    carried = Delivery.objects.filter(courier=user).values("parcel_id")
    return Payment.objects.filter(Q(shipper=user) | Q(parcel_id__in=carried))


def erasure_blockers(*, user: User) -> list[Blocker]:
    """Why the person's account cannot be erased now (empty: it can)."""
    found: list[Blocker] = []
    open_parcels = _parcels_of(user).exclude(status__in=PARCEL_DONE).count()
    if open_parcels:
        found.append(
            Blocker(
                "open_parcels",
                gettext(
                    "You have %(count)d parcel(s) not yet delivered or closed: cancel them or "
                    "wait until they are delivered."
                )
                % {"count": open_parcels},
            )
        )
    open_returns = ParcelReturn.objects.filter(
        Q(original__shipper=user) | Q(requester=user), status__in=RETURN_OPEN
    ).count()
    if open_returns:
        found.append(
            Blocker(
                "open_returns",
                gettext("%(count)d return(s) of your parcels are still open.")
                % {"count": open_returns},
            )
        )
    carrying = Delivery.objects.filter(courier=user, status__in=ACTIVE_STATUSES).count()
    if carrying:
        found.append(
            Blocker(
                "open_deliveries",
                gettext(
                    "You have accepted %(count)d parcel(s) that are not delivered yet: deliver "
                    "them or give them back first."
                )
                % {"count": carrying},
            )
        )
    payments = _payments_involving(user)
    held_by_ledger = (
        LedgerEntry.objects.filter(transaction__payment__in=payments, account=LedgerAccount.ESCROW)
        .values("transaction__payment")
        .annotate(total=Sum("amount"))
        .exclude(total=0)
    )
    if payments.filter(status=PaymentStatus.SUCCEEDED).exists() or held_by_ledger.exists():
        found.append(
            Blocker(
                "money_in_escrow",
                gettext(
                    "Money for one of your parcels is still held in escrow: it is released or "
                    "refunded when the delivery is done."
                ),
            )
        )
    disputed = Dispute.objects.filter(payment__in=payments, status=DisputeStatus.OPEN).exists()
    if disputed or payments.filter(status=PaymentStatus.DISPUTED).exists():
        found.append(
            Blocker(
                "open_dispute",
                gettext("A payment of one of your parcels is disputed: wait for the decision."),
            )
        )
    owed = LedgerEntry.objects.filter(courier=user, account=LedgerAccount.COURIER_PAYABLE)
    owed_total = owed.aggregate(total=Sum("amount"))["total"] or 0
    waiting = Transfer.objects.filter(courier=user, status=TransferStatus.WAITING).exists()
    if waiting or owed_total:
        found.append(
            Blocker(
                "pending_transfers",
                gettext(
                    "Money we owe you has not been transferred yet: finish setting up payouts "
                    "and wait for the transfer."
                ),
            )
        )
    if BankPayout.objects.filter(account__courier=user, status__in=PAYOUT_OPEN).exists():
        found.append(
            Blocker(
                "pending_payouts",
                gettext("A payout to your bank account is still on its way."),
            )
        )
    return found


def erasure_blocked_error(blockers: Iterable[Blocker]) -> ConflictError:
    reasons = list(blockers)
    message = (
        gettext("Your account cannot be deleted yet.") + " " + " ".join(b.message for b in reasons)
    )
    return ConflictError(
        message,
        code="erasure_blocked",
        extra={"reasons": [{"code": b.code, "message": b.message} for b in reasons]},
    )


# --- erasing -------------------------------------------------------------------------------------


def _coarse(point: Point) -> Point:
    return Point(round(point.x, COARSE_DECIMALS), round(point.y, COARSE_DECIMALS), srid=point.srid)


def erased_value(field: models.Field[Any, Any], value: Any) -> Any:
    """What a personal column holds once erased."""
    if isinstance(field, models.FileField):
        return ""
    if isinstance(field, gis_models.PointField):
        return _coarse(value) if value is not None else None
    if isinstance(field, gis_models.LineStringField):
        if value is None:
            return None
        return LineString(
            _coarse(Point(value[0], srid=value.srid)),
            _coarse(Point(value[-1], srid=value.srid)),
            srid=value.srid,
        )
    if field.null:
        return None
    return ""


def is_erased(field: models.Field[Any, Any], value: Any) -> bool:
    """Whether a column's value is one that erasure leaves (for the tests and the admin)."""
    if value is None:
        return True
    if isinstance(value, FieldFile):
        return not value.name
    if isinstance(value, Point):
        return (value.x, value.y) == (_coarse(value).x, _coarse(value).y)
    if isinstance(value, LineString):
        return len(value) == 2 and all(is_erased(field, Point(c)) for c in value)
    if value in ("", ERASED_TEXT):
        return True
    if field.name == "password":
        return isinstance(value, str) and value.startswith("!")
    return isinstance(value, str) and f"@{ERASED_DOMAIN}" in value


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field)
    return field


def _erase_rows(entry: Personal, user: User) -> int:
    rows = entry.rows(user)
    fields = [_field(entry.model, name) for name in entry.fields]
    file_fields = [f for f in fields if isinstance(f, models.FileField)]
    if entry.action == UNLINK:
        return rows.update(**{name: None for name in entry.fields})
    if entry.action == DELETE:
        objs = list(rows)
        files_delete_on_commit([getattr(obj, f.name) for obj in objs for f in file_fields])
        entry.model._default_manager.filter(pk__in=[o.pk for o in objs]).delete()
        return len(objs)
    placeholders = dict(entry.placeholders)
    changed = 0
    for obj in rows:
        files_delete_on_commit([getattr(obj, f.name) for f in file_fields])
        for field in fields:
            if field.name in placeholders:
                setattr(obj, field.attname, placeholders[field.name])
            else:
                setattr(obj, field.attname, erased_value(field, getattr(obj, field.attname)))
        obj.save(update_fields=[f.name for f in fields])
        changed += 1
    return changed


def _user_erase(user: User) -> None:
    user.email = erased_email(user.pk)
    user.full_name = ""
    user.phone = ""
    user.password = make_password(None)  # unusable: no login, and every session is invalid
    user.time_zone = ""
    user.language = ""
    user.is_active = False
    user.is_staff = False
    user.is_superuser = False
    user.last_login = None
    user.erased_at = timezone.now()
    user.save()
    user.groups.clear()
    user.user_permissions.clear()


def _commitments_end(user: User) -> None:
    """Trips and commutes still planned are cancelled (their pending offers go to the next
    couriers); none of them carries a parcel, or erasure would have been refused."""
    for series in TripSeries.objects.filter(courier=user, is_active=True).order_by("pk"):
        trip_series_stop(series=series, actor=user)
    live = Trip.objects.filter(courier=user, status__in=[TripStatus.PLANNED, TripStatus.ACTIVE])
    for trip in live.order_by("departure_earliest", "pk"):
        trip_cancel(trip=trip, actor=user, reason="Account erased")


def _merchant_close_if_sole_owner(user: User) -> None:
    """A merchant whose only owner is erased closes: its API keys are revoked and its webhook
    endpoints switched off (its records stay: they are the business's)."""
    member = MerchantMember.objects.filter(user=user, role=MemberRole.OWNER).first()
    if member is None:
        return
    merchant = Merchant.objects.select_for_update().get(pk=member.merchant_id)
    if merchant.members.filter(role=MemberRole.OWNER).exclude(user=user).exists():
        return
    merchant.is_active = False
    if merchant.contact_email.lower() == user.email.lower():
        merchant.contact_email = erased_email(user.pk)
    merchant.save(update_fields=["is_active", "contact_email", "updated_at"])
    merchant.api_keys.filter(revoked=False).update(revoked=True)
    WebhookEndpoint.objects.filter(merchant=merchant, is_active=True).update(
        is_active=False,
        disabled_at=timezone.now(),
        disabled_reason="The owner's account was erased",
    )


def _tokens_revoke(user: User) -> None:
    """Every refresh token of the person is blacklisted (access tokens die with is_active)."""
    for token in OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True):
        BlacklistedToken.objects.get_or_create(token=token)


def _audit(user: User, actor: User | None) -> None:
    LogEntry.objects.create(
        user=actor or user,
        content_type=ContentType.objects.get_for_model(User),
        object_id=str(user.pk),
        object_repr=str(user),
        action_flag=CHANGE,
        change_message="Account erased (personal data blanked or anonymised)",
    )


@transaction.atomic
def account_erase(*, user: User, actor: User | None = None) -> User:
    """Erase the person's account: refused (409 "erasure_blocked", with the reasons) while
    something is open; done once (a second call changes nothing and returns the account)."""
    user = User.objects.select_for_update().get(pk=user.pk)
    if user.erased_at is not None:
        log.info("account %s: already erased", user.pk)
        return user
    blockers = erasure_blockers(user=user)
    if blockers:
        raise erasure_blocked_error(blockers)
    _commitments_end(user)
    _merchant_close_if_sole_owner(user)
    _tokens_revoke(user)
    counts: dict[str, int] = {}
    for entry in PERSONAL:
        if entry.model is not User:
            counts[f"{entry.model._meta.label}.{entry.fields[0]}"] = _erase_rows(entry, user)
    _user_erase(user)
    _audit(user, actor)
    log.info(
        "account %s erased by %s",
        user.pk,
        f"staff {actor.pk}" if actor is not None and actor.pk != user.pk else "its owner",
        extra={"erased_rows": counts},
    )
    return user
