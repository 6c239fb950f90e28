"""Every model, imported here so Alembic autogenerate and `flask shell` see them all."""

from app.models.analytics import AnalyticsEvent, DailyCount, FollowerCount, VisitorSalt
from app.models.api_token import ApiToken
from app.models.audit import AuditLog
from app.models.event import Event
from app.models.export import DataExport, ExportStatus
from app.models.image import Image, ImageKind, ImageStatus, ImageVariant
from app.models.notification_preference import NotificationPreference
from app.models.oauth import OAuthIdentity
from app.models.outbox import OutboxMessage, OutboxStatus
from app.models.platform import AccountSlot, AccountStatus, PlatformAccount, PlatformApp
from app.models.profile import HandleRedirect, Profile
from app.models.schedule import ScheduledRelease, ScheduleStatus
from app.models.session import UserSession
from app.models.sync import SyncRequest, SyncTask, TaskStatus
from app.models.sync_preferences import SyncPreferences
from app.models.user import Role, User
from app.models.webhook import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "AnalyticsEvent",
    "DailyCount",
    "FollowerCount",
    "VisitorSalt",
    "AccountSlot",
    "AccountStatus",
    "PlatformAccount",
    "PlatformApp",
    "ScheduledRelease",
    "ScheduleStatus",
    "SyncPreferences",
    "SyncRequest",
    "SyncTask",
    "TaskStatus",
    "ApiToken",
    "AuditLog",
    "DataExport",
    "Event",
    "ExportStatus",
    "Image",
    "ImageKind",
    "ImageStatus",
    "ImageVariant",
    "NotificationPreference",
    "OAuthIdentity",
    "HandleRedirect",
    "Profile",
    "OutboxMessage",
    "OutboxStatus",
    "Role",
    "User",
    "UserSession",
    "DeliveryStatus",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]
