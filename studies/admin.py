"""Admin: studies and their participants for inspection; the event log is read-only."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from studies.models import Collaborator, Condition, Event, Participant, Response, Study


class ConditionInline(admin.TabularInline):
    model = Condition
    extra = 0
    fields = ["position", "name", "factors", "quota"]
    readonly_fields = ["position", "name", "factors"]


class CollaboratorInline(admin.TabularInline):
    model = Collaborator
    extra = 0


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = ["title", "version", "protocol", "state", "owner", "created_at"]
    list_filter = ["state", "protocol"]
    search_fields = ["title", "uid"]
    readonly_fields = [
        "uid",
        "lineage",
        "link_token",
        "participant_counter",
        "stimuli_frozen_at",
        "preregistration",
        "preregistration_sha256",
        "preregistered_at",
    ]
    inlines = [ConditionInline, CollaboratorInline]


@admin.register(Participant)
class ParticipantAdmin(admin.ModelAdmin):
    list_display = [
        "__str__",
        "study",
        "condition",
        "mode",
        "state",
        "page",
        "n_answered",
        "last_seen_at",
    ]
    list_filter = ["mode", "state", "source"]
    readonly_fields = ["code", "seed", "recruitment"]
    exclude = ["recruiter_hash"]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["__str__", "participant", "mode", "rt_ms", "received_at"]
    list_filter = ["mode"]


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "study", "participant", "actor"]
    list_filter = ["kind"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
