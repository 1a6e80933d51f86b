"""outlook_sync: two-way sync between the Säljstöd CRM calendar and Microsoft Outlook."""

from outlook_sync.errors import OutlookSyncError
from outlook_sync.model import Event, ShowAs, Side

__all__ = ["Event", "OutlookSyncError", "ShowAs", "Side"]
