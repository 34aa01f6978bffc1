from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from people.audit import audited
from people.querysets import BusinessUnitQuerySet, ScopedQuerySet


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


@audited
class BusinessUnit(TimeStampedModel):
    """A node of the organisation tree. Permissions granted on a unit cover its children."""

    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    code = models.CharField(max_length=40, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="led_units",
    )

    objects = BusinessUnitQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [
            ("view_unit_portfolio", "View the unit's portfolio"),
            ("change_unit_portfolio", "Change the unit's portfolio"),
            ("manage_unit", "Lead the unit: approvals and reviews"),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(parent=models.F("id")), name="unit_not_own_parent"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def business_unit_id(self) -> int:
        return self.pk


class BusinessUnitUserObjectPermission(UserObjectPermissionBase):
    """Guardian's direct foreign key: an indexed join instead of a generic one."""

    content_object = models.ForeignKey(BusinessUnit, on_delete=models.CASCADE)


class BusinessUnitGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(BusinessUnit, on_delete=models.CASCADE)


class UnitRole(models.TextChoices):
    LEAD = "lead", "Lead"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


@audited
class UnitMembership(TimeStampedModel):
    """The reviewable record of a unit role; guardian permission rows follow it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="unit_memberships"
    )
    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=UnitRole.choices, default=UnitRole.MEMBER)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["business_unit__name", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "business_unit"], name="one_membership_per_unit"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} - {self.get_role_display()} of {self.business_unit}"


class CenterOfExcellence(TimeStampedModel):
    """Advises initiatives, reviews gates and owns shared standards (org-wide, not scoped)."""

    name = models.CharField(max_length=200, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    mission = models.TextField(blank=True)
    lead = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="coes")

    class Meta:
        ordering = ["name"]
        verbose_name = "centre of excellence"
        verbose_name_plural = "centres of excellence"

    def __str__(self) -> str:
        return self.name


class TrainingProgram(TimeStampedModel):
    """An organisation-wide programme (AI literacy, prompt engineering, model risk, ...)."""

    class Audience(models.TextChoices):
        EVERYONE = "everyone", "Everyone"
        LEADERS = "leaders", "Leaders"
        PRACTITIONERS = "practitioners", "Practitioners"
        ENGINEERS = "engineers", "Engineers"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    provider = models.CharField(max_length=200, blank=True)
    audience = models.CharField(max_length=20, choices=Audience.choices, default=Audience.EVERYONE)
    hours = models.DecimalField(max_digits=6, decimal_places=1, default=0)
    coe = models.ForeignKey(
        CenterOfExcellence,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="programs",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TrainingCompletion(TimeStampedModel):
    """A person completing a programme, counted for the unit they belong to."""

    program = models.ForeignKey(
        TrainingProgram, on_delete=models.CASCADE, related_name="completions"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_completions"
    )
    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.PROTECT, related_name="training_completions"
    )
    completed_on = models.DateField()
    score = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-completed_on"]
        constraints = [
            models.UniqueConstraint(fields=["program", "user"], name="one_completion_per_program"),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__gte=0, score__lte=100),
                name="completion_score_0_100",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} completed {self.program}"


class NotificationPreference(models.Model):
    """How often a person gets email about their notifications. Everything is in the
    inbox; email is one digest per period with the items grouped, and urgent items are
    emailed at once unless the person chose no email at all. No row means weekly."""

    class EmailFrequency(models.TextChoices):
        WEEKLY = "weekly", "A weekly digest (urgent items at once)"
        DAILY = "daily", "A daily digest (urgent items at once)"
        NEVER = "never", "No email: the inbox only"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email_frequency = models.CharField(
        max_length=8, choices=EmailFrequency.choices, default=EmailFrequency.WEEKLY
    )

    def __str__(self) -> str:
        return f"{self.user}: {self.get_email_frequency_display()}"


class Notification(models.Model):
    """An inbox item. ``finding_key`` + ``period`` make a re-run of a job idempotent:
    one notification per person per finding per period."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=40)
    finding_key = models.CharField(max_length=200)
    period = models.CharField(max_length=20, help_text="e.g. 2026-W48 or 2026-11")
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)
    urgent = models.BooleanField(
        default=False, help_text="Emailed at once instead of waiting for the digest."
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "finding_key", "period"], name="one_notification_per_finding_period"
            ),
        ]
        indexes = [models.Index(fields=["user", "read_at"])]

    def __str__(self) -> str:
        return self.title


class ApiToken(models.Model):
    """A machine credential. Only a hash of the secret is stored; the secret is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True, help_text="Identifies the token in logs")
    key_hash = models.CharField(max_length=128, unique=True)
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Job(models.Model):
    """A piece of long work started by a person (import, export, recomputation) or by
    beat: its progress for the page to poll, its outcome, and a file to download."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to start"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=60, help_text="e.g. spend_import, inventory_import")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
    )
    celery_task_id = models.CharField(max_length=60, blank=True)
    params = models.JSONField(default=dict, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=500, blank=True)
    report = models.JSONField(default=dict, blank=True)
    input_file = models.FileField(upload_to="jobs/input/", blank=True)
    result_file = models.FileField(upload_to="jobs/result/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["kind", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        if not self.progress_total:
            return 100 if self.status == self.Status.SUCCEEDED else 0
        return min(100, round(100 * self.progress_done / self.progress_total))


class Heartbeat(models.Model):
    """When a periodic heartbeat task last *ran* on a worker (not merely when beat sent it):
    ``/healthz`` reads it to tell whether beat, the broker and a worker all work."""

    name = models.CharField(max_length=50, primary_key=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.beat_at:%Y-%m-%d %H:%M:%S}"
