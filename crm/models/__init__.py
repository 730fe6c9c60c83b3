"""Typed SQLAlchemy 2 models, one per table of the spec."""

from crm.models.account import RecoveryCode, UserSession
from crm.models.audit import AuditLog
from crm.models.backup import BackupCheck
from crm.models.customer import CUSTOMER_STATUSES, INDUSTRIES, Customer
from crm.models.enums import InteractionType, LeadStatus, TaskStatus, UserRole
from crm.models.history import LeadStageHistory
from crm.models.interaction import Interaction
from crm.models.job import JobRun, procrastinate_events, procrastinate_jobs
from crm.models.lead import CLOSED_STAGE_NAMES, CURRENCIES, LEAD_SOURCES, Lead, LeadStage
from crm.models.notification import Notification, email_digests
from crm.models.pipeline import (
    flows_by_date,
    forecast_months,
    forecast_stats,
    pipeline_checkpoint_months,
    pipeline_checkpoints,
    pipeline_closing,
    pipeline_closing_days,
    pipeline_closing_sources,
    pipeline_days,
    pipeline_flows,
    pipeline_flows_all,
    pipeline_months,
    pipeline_stats,
    pipeline_totals,
    stage_stays,
    stage_stays_all,
    stage_stays_dated,
    stage_stays_dated_all,
    won_cycles,
    won_cycles_all,
    won_cycles_dated,
    won_cycles_dated_all,
)
from crm.models.rate import ExchangeRate
from crm.models.task import Task
from crm.models.token import ApiToken
from crm.models.upload import CsvUpload
from crm.models.user import User
from crm.models.webhook import Webhook, WebhookDelivery

__all__ = [
    "CLOSED_STAGE_NAMES",
    "CURRENCIES",
    "CUSTOMER_STATUSES",
    "INDUSTRIES",
    "LEAD_SOURCES",
    "ApiToken",
    "AuditLog",
    "BackupCheck",
    "CsvUpload",
    "Customer",
    "ExchangeRate",
    "Interaction",
    "InteractionType",
    "JobRun",
    "Lead",
    "LeadStage",
    "LeadStageHistory",
    "LeadStatus",
    "Notification",
    "RecoveryCode",
    "Task",
    "TaskStatus",
    "User",
    "UserRole",
    "UserSession",
    "Webhook",
    "WebhookDelivery",
    "email_digests",
    "flows_by_date",
    "forecast_months",
    "forecast_stats",
    "pipeline_checkpoint_months",
    "pipeline_checkpoints",
    "pipeline_closing",
    "pipeline_closing_days",
    "pipeline_closing_sources",
    "pipeline_days",
    "pipeline_flows",
    "pipeline_flows_all",
    "pipeline_months",
    "pipeline_stats",
    "pipeline_totals",
    "procrastinate_events",
    "procrastinate_jobs",
    "stage_stays",
    "stage_stays_all",
    "stage_stays_dated",
    "stage_stays_dated_all",
    "won_cycles",
    "won_cycles_all",
    "won_cycles_dated",
    "won_cycles_dated_all",
]
