"""Telling a facility's manager that SEMS could not command (or restore) their building: email over SMTP.

The notice is also written to the audit log, which the API and the UI show. A failing mail
server never stops the saga: the failure is audited with its reason.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from sqlalchemy import Engine, text

from pipelines.dr import store
from sems.settings import Settings

log = logging.getLogger(__name__)


class ManagerNotifier:
    """Sends one email per notice to the facility's manager (or the configured fallback address)."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine

    def notify(self, event_id: str, facility_id: str, subject: str, body: str) -> None:
        with self.engine.begin() as conn:
            email = conn.execute(text("SELECT manager_email FROM facilities WHERE facility_id = :fid"),
                                 {"fid": facility_id}).scalar_one_or_none()
        recipient = email or self.settings.dr_manager_email_template.format(facility_id=facility_id)
        message = EmailMessage()
        message["From"], message["To"] = self.settings.smtp_sender, recipient
        message["Subject"] = f"[SEMS DR {event_id}] {facility_id}: {subject}"
        message.set_content(body)
        error = None
        try:
            with smtplib.SMTP(self.settings.smtp_host or self.settings.host, self.settings.smtp_port,
                              timeout=self.settings.smtp_timeout_s) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.warning("manager notification failed", extra={"fields": {"facility_id": facility_id,
                                                                         "error": error}})
        with self.engine.begin() as conn:
            store.audit(conn, event_id, "notifier", "manager notified" if error is None else "notification failed",
                        facility_id=facility_id, recipient=recipient, subject=subject, error=error)
