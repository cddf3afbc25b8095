"""Routes: every seed path, as written, with or without a trailing slash."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import URLPattern, include, path, re_path
from django.views.generic.base import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from uai.dialects import (
    a2a_jsonrpc,
    a2a_rest,
    agent_run,
    chat_run,
    conversations,
    history,
    native_chats,
    native_runs,
    native_schedules,
    native_streams,
    native_webhooks,
    openai_chat,
    openai_common,
    openai_conversations,
    openai_models,
    openai_responses,
    pages,
    workflows,
)
from uai.dialects.native_agents import AgentListView
from uai.dialects.native_artifacts import (
    ArtifactDetailView,
    ArtifactDownloadView,
    ArtifactListView,
    ScopeResolver,
)
from uai_project.metrics import metrics_view
from uai_project.views import healthz

handler400 = "uai_project.errors.handler400"
handler403 = "uai_project.errors.handler403"
handler404 = "uai_project.errors.handler404"
handler500 = "uai_project.errors.handler500"

CHAT = r"^chat/(?P<session_id>[^/]+)"
RUN = r"^run/(?P<task_id>[^/]+)"
ENDPOINT = r"^webhooks/(?P<endpoint_id>[^/]+)"
SCHEDULE = r"^schedules/(?P<schedule_id>[^/]+)"
ARTIFACT = r"/artifacts/(?P<artifact_id>[^/]+)"
WORKFLOW = r"^api/workflows/(?P<workflow_id>[^/]+)"
WORKFLOW_PLAYGROUND = r"^api/chat/playground/(?P<workflow_id>[^/]+)"


def artifact_routes(owner: str, resolve: ScopeResolver, name: str) -> list[URLPattern]:
    """List, metadata and download of the artifacts under a chat or a run."""
    return [
        re_path(
            owner + r"/artifacts/?$", ArtifactListView.as_view(resolve=resolve), name=f"{name}-artifacts"
        ),
        re_path(
            owner + ARTIFACT + r"/?$", ArtifactDetailView.as_view(resolve=resolve), name=f"{name}-artifact"
        ),
        re_path(
            owner + ARTIFACT + r"/download/?$",
            ArtifactDownloadView.as_view(resolve=resolve),
            name=f"{name}-artifact-download",
        ),
    ]


# The OpenAI-compatible API: its errors in OpenAI's shape, to its unknown paths too.
OPENAI_V1 = [
    *openai_models.urlpatterns,
    *openai_chat.urlpatterns,
    *openai_responses.urlpatterns,
    *openai_conversations.urlpatterns,
    re_path(r"^(?P<rest>.*)$", openai_common.not_found),
]

# A2A 1.0: every agent's card, its HTTP+JSON routes and its JSON-RPC endpoint; A2A's 404 below.
A2A = [
    *a2a_rest.urlpatterns,
    re_path(r"^(?P<agent>[^/]+)/?$", a2a_jsonrpc.JsonRpcView.as_view(), name="a2a-jsonrpc"),
    re_path(r"^(?P<rest>.*)$", a2a_rest.not_found),
]

urlpatterns = [
    path("v1/", include(OPENAI_V1)),
    path("a2a/", include(A2A)),
    # (A2A documents its routes itself: the card, not the OpenAPI schema; hence no route name here)
    re_path(r"^\.well-known/agent-card\.json$", a2a_rest.CardView.as_view()),
    # front-end protocols: AG-UI (CopilotKit) and the AI SDK's UI message stream (useChat)
    path("ag-ui/", include("uai.dialects.agui")),
    path("ai-sdk/", include("uai.dialects.ai_sdk")),
    # LangGraph's Agent Server API (the langgraph-sdk clients, Agent Chat UI)
    path("langgraph/", include("uai.dialects.langgraph")),
    # the web pages (session sign-in), then the APIs
    path("", pages.chat_page, name="chat-page"),
    path("runs/", pages.runs_page, name="runs-page"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    re_path(r"^healthz/?$", healthz, name="healthz"),
    *([re_path(r"^metrics/?$", metrics_view, name="metrics")] if settings.UAI_METRICS_ENABLED else []),
    # Browsers ask for /favicon.ico on pages without a <link rel=icon> (admin, API docs): no 404.
    # Unnamed: not an API route (the schema test lists the named ones).
    path("favicon.ico", RedirectView.as_view(url=static("uai/favicon.svg"), permanent=True)),
    re_path(r"^agents/?$", AgentListView.as_view(), name="agent-list"),
    path("admin/", admin.site.urls),
    re_path(r"^api/schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^api/docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(r"^api/auth/token/?$", TokenObtainPairView.as_view(), name="jwt-obtain"),
    re_path(r"^api/auth/token/refresh/?$", TokenRefreshView.as_view(), name="jwt-refresh"),
    # seed 000 — chats (fixed routes before /chat/{session_id})
    re_path(r"^chat/?$", native_chats.ChatListCreateView.as_view(), name="chat-list"),
    re_path(r"^chat/next/?$", native_chats.ChatNextView.as_view(), name="chat-next"),
    # seed 003 — also fixed routes beside /chat/{session_id}
    re_path(r"^chat/run/?$", chat_run.ChatRunView.as_view(), name="conversation-run"),
    re_path(r"^chat/stream/?$", chat_run.ChatStreamView.as_view(), name="conversation-stream"),
    re_path(CHAT + r"/?$", native_chats.ChatDetailView.as_view(), name="chat-detail"),
    re_path(CHAT + r"/messages/?$", native_chats.ChatMessagesView.as_view(), name="chat-messages"),
    re_path(CHAT + r"/stream/?$", native_streams.chat_stream, name="chat-stream"),
    *artifact_routes(CHAT, native_chats.chat_scope, "chat"),
    # seed 000 — runs
    re_path(r"^run/?$", native_runs.RunListCreateView.as_view(), name="run-list"),
    re_path(RUN + r"/?$", native_runs.RunDetailView.as_view(), name="run-detail"),
    re_path(RUN + r"/input/?$", native_runs.RunInputView.as_view(), name="run-input"),
    re_path(RUN + r"/logs/?$", native_runs.RunLogsView.as_view(), name="run-logs"),
    re_path(RUN + r"/stream/?$", native_streams.run_stream, name="run-stream"),
    *artifact_routes(RUN, native_runs.run_scope, "run"),
    # webhook endpoints a user registers (not in a seed)
    re_path(r"^webhooks/?$", native_webhooks.EndpointListCreateView.as_view(), name="webhook-list"),
    re_path(ENDPOINT + r"/?$", native_webhooks.EndpointDetailView.as_view(), name="webhook-detail"),
    re_path(
        ENDPOINT + r"/rotate-secret/?$", native_webhooks.RotateSecretView.as_view(), name="webhook-rotate"
    ),
    re_path(ENDPOINT + r"/test/?$", native_webhooks.TestView.as_view(), name="webhook-test"),
    re_path(
        ENDPOINT + r"/deliveries/?$", native_webhooks.DeliveryListView.as_view(), name="webhook-deliveries"
    ),
    re_path(
        ENDPOINT + r"/deliveries/(?P<delivery_id>[^/]+)/?$",
        native_webhooks.DeliveryDetailView.as_view(),
        name="webhook-delivery",
    ),
    re_path(
        ENDPOINT + r"/deliveries/(?P<delivery_id>[^/]+)/redeliver/?$",
        native_webhooks.RedeliverView.as_view(),
        name="webhook-redeliver",
    ),
    # scheduled runs
    re_path(r"^schedules/?$", native_schedules.ScheduleListCreateView.as_view(), name="schedule-list"),
    re_path(SCHEDULE + r"/?$", native_schedules.ScheduleDetailView.as_view(), name="schedule-detail"),
    re_path(SCHEDULE + r"/runs/?$", native_schedules.ScheduleRunsView.as_view(), name="schedule-runs"),
    # seed 001 — REST beside the WebSocket
    re_path(r"^history/(?P<chat_id>[^/]+)/?$", history.HistoryView.as_view(), name="history"),
    re_path(r"^agent/run/?$", agent_run.AgentRunView.as_view(), name="agent-run"),
    # seed 002 — playground and workflows
    re_path(r"^api/chat/playground/start/?$", workflows.StartView.as_view(), name="playground-start"),
    re_path(WORKFLOW_PLAYGROUND + r"/stop/?$", workflows.StopView.as_view(), name="playground-stop"),
    re_path(WORKFLOW_PLAYGROUND + r"/chatData/?$", workflows.ChatDataView.as_view(), name="playground-data"),
    re_path(r"^api/workflows/?$", workflows.WorkflowListView.as_view(), name="workflow-list"),
    re_path(WORKFLOW + r"/?$", workflows.WorkflowDetailView.as_view(), name="workflow-detail"),
    re_path(WORKFLOW + r"/status/?$", workflows.StatusView.as_view(), name="workflow-status"),
    re_path(WORKFLOW + r"/logs/?$", workflows.LogsView.as_view(), name="workflow-logs"),
    re_path(WORKFLOW + r"/messages/?$", workflows.MessagesView.as_view(), name="workflow-messages"),
    re_path(
        WORKFLOW + r"/messages/(?P<message_id>[^/]+)/?$",
        workflows.MessageDeleteView.as_view(),
        name="workflow-message",
    ),
    re_path(
        WORKFLOW + r"/messages/(?P<message_id>[^/]+)/files/(?P<file_id>[^/]+)/?$",
        workflows.MessageFileDeleteView.as_view(),
        name="workflow-message-file",
    ),
    # seed 004 — chats and conversations
    re_path(r"^chats/?$", conversations.ChatsView.as_view(), name="chats-list"),
    re_path(r"^chats/create/?$", conversations.ChatCreateView.as_view(), name="chats-create"),
    re_path(
        r"^chats/update/(?P<chat_id>[^/]+)/?$", conversations.ChatUpdateView.as_view(), name="chats-update"
    ),
    re_path(
        r"^chats/delete/(?P<chat_id>[^/]+)/?$", conversations.ChatDeleteView.as_view(), name="chats-delete"
    ),
    re_path(r"^chats/(?P<chat_id>[^/]+)/?$", conversations.ChatView.as_view(), name="chats-detail"),
    re_path(
        r"^conversations/create/?$",
        conversations.ConversationCreateView.as_view(),
        name="conversations-create",
    ),
    re_path(
        r"^conversations/inference/(?P<chat_id>[^/]+)/?$",
        conversations.InferenceView.as_view(),
        name="conversations-inference",
    ),
    re_path(
        r"^conversations/inference_internet/(?P<chat_id>[^/]+)/?$",
        conversations.InferenceView.as_view(internet=True),
        name="conversations-inference-internet",
    ),
]
