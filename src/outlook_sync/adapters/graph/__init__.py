"""Exchange Online / Outlook 365 through Microsoft Graph (extra ``outlook_sync[graph]``).

::

    from outlook_sync.adapters.graph import GraphCalendar, GraphClient, device_code_provider

    client = GraphClient("https://graph.microsoft.com/v1.0", device_code_provider(CLIENT_ID))
    outlook = GraphCalendar(client)          # /me, default calendar

Tests run the same code against the local emulator, :mod:`outlook_sync.testing.graph`.
See docs/graph.md.

Module shape (no import circle): ``transport``, ``mapping``, ``auth`` and ``pages`` (paged
answers) at the bottom; ``core.GraphCore`` (shared state and single-item plumbing) on
them; ``series`` (reading), ``series_writes``, ``bulk``, ``listing`` and ``notifications``
take a ``GraphCore``; ``calendar.GraphCalendar`` (the public face) imports them all.
"""

from outlook_sync.adapters.graph.auth import (
    StaticToken,
    TokenProvider,
    client_credentials_provider,
    default_token_cache_path,
    device_code_provider,
    interactive_provider,
    persistent_token_cache,
)
from outlook_sync.adapters.graph.calendar import DeltaWindow, GraphCalendar, SeriesWindow
from outlook_sync.adapters.graph.mapping import PARTNER_PROPERTY, ZONE_PROPERTY
from outlook_sync.adapters.graph.notifications import DeltaPoller, WebhookSubscription
from outlook_sync.adapters.graph.push import ChangeFeed, PushSubscription, Webhook, WebhookReceiver
from outlook_sync.adapters.graph.transport import AnswerLostError, GraphClient, RetryPolicy

__all__ = [
    "PARTNER_PROPERTY",
    "ZONE_PROPERTY",
    "AnswerLostError",
    "ChangeFeed",
    "DeltaPoller",
    "DeltaWindow",
    "GraphCalendar",
    "GraphClient",
    "PushSubscription",
    "RetryPolicy",
    "SeriesWindow",
    "StaticToken",
    "TokenProvider",
    "Webhook",
    "WebhookReceiver",
    "WebhookSubscription",
    "client_credentials_provider",
    "default_token_cache_path",
    "device_code_provider",
    "interactive_provider",
    "persistent_token_cache",
]
