from django.conf import settings
from django.db import models

from apps.core.dates import when_text


class Role(models.TextChoices):
    REVIEWER = "reviewer", "Reviewer"
    LEAD = "lead", "Lead"
    ADMIN = "admin", "Admin"


# Each role can do everything the roles below it can.
ROLE_RANK = {Role.REVIEWER: 1, Role.LEAD: 2, Role.ADMIN: 3}


class Membership(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.REVIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="one_membership_per_user")]
        ordering = ["project_id", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.project}"

    def has_role(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]


class AuditEvent(models.Model):
    """Who did what, when: changes to models' servers and keys, roles, prompts, project settings, deletions, jobs.

    Rows are only ever added (apps.accounts.audit.audit_record); the admin and the API read them.
    """

    project = models.ForeignKey("projects.Project", null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    action = models.CharField(max_length=60)
    target = models.CharField(max_length=300, blank=True)
    details = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["project", "-at"]), models.Index(fields=["actor", "-at"])]

    def __str__(self) -> str:
        return f"{when_text(self.at)} {self.actor} {self.action} {self.target}"
