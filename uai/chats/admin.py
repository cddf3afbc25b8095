"""Admin: chats with their messages, logs and artifacts (with previews) inline."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.safestring import SafeString

from uai.artifacts.admin import artifact_inline
from uai.chats import services
from uai.chats.models import Chat, Message
from uai.runs.models import Log
from uai_project.admin_ids import IDS_CSS, short_id
from uai_project.admin_utils import JSON_FORM_FIELDS, LOG_FIELDS, ChangedFieldsSaveMixin, read_only_inline

MessageInline = read_only_inline(
    Message, fk_name="chat", fields=("seq", "role", "step_type", "content", "created_at")
)
ChatLogInline = read_only_inline(Log, fk_name="chat", fields=LOG_FIELDS)
ChatArtifactInline = artifact_inline("chat")


@admin.register(Chat)
class ChatAdmin(ChangedFieldsSaveMixin[Chat]):
    list_display = ("short_id", "name", "owner", "agent", "status", "mode", "created_at", "updated_at")
    list_filter = ("status", "agent", "owner", "mode", "created_at")
    search_fields = ("id", "name", "owner__username")
    readonly_fields = ("last_seq", "created_at", "updated_at", "stopped_at")
    list_select_related = ("owner", "agent")
    raw_id_fields = ("owner",)  # not a <select> of every user
    formfield_overrides = JSON_FORM_FIELDS
    inlines = [MessageInline, ChatLogInline, ChatArtifactInline]
    date_hierarchy = "created_at"

    class Media:
        css = {"all": (IDS_CSS,)}

    @admin.display(description="id", ordering="id")
    def short_id(self, chat: Chat) -> SafeString | str:
        return short_id(chat.pk)

    # Deleted as the API deletes: its runs cancelled (their jobs stop), its stored files removed.
    def delete_model(self, request: HttpRequest, obj: Chat) -> None:
        services.chat_delete(chat=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Chat]) -> None:
        for chat in queryset:
            services.chat_delete(chat=chat)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin[Message]):
    list_display = ("short_chat", "seq", "role", "step_type", "short_content", "created_at")
    list_filter = ("role", "step_type", "created_at")
    search_fields = ("content", "chat__id", "client_message_id")
    readonly_fields = ("id", "chat", "run", "seq", "created_at")
    list_select_related = ("chat",)
    formfield_overrides = JSON_FORM_FIELDS

    class Media:
        css = {"all": (IDS_CSS,)}

    @admin.display(description="chat", ordering="chat")
    def short_chat(self, obj: Message) -> SafeString | str:
        return short_id(obj.chat_id)

    @admin.display(description="content")
    def short_content(self, obj: Message) -> str:
        return obj.content[:80]
