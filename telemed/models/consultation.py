"""A consultation request, its event log, its chat messages and its outcome."""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from telemed.db import UTCDateTime, utcnow
from telemed.extensions import db
from telemed.models.staff import Facility, User, _in
from telemed.models.vocabulary import (
    ATTACHMENT_TYPES,
    DISPOSITIONS,
    EVENT_KINDS,
    PRIORITIES,
    SEXES,
    SPECIALTIES,
    STATUSES,
)

MAX_ESCALATION_LEVEL = 2


class Consultation(db.Model):
    __tablename__ = "consultations"
    __table_args__ = (
        UniqueConstraint("requester_id", "client_key", name="uq_consultation_client_key"),
        CheckConstraint(_in("status", STATUSES), name="consultation_status"),
        CheckConstraint(_in("priority", PRIORITIES), name="consultation_priority"),
        CheckConstraint(_in("effective_priority", PRIORITIES), name="consultation_effective_priority"),
        CheckConstraint(_in("specialty", SPECIALTIES), name="consultation_specialty"),
        CheckConstraint(_in("patient_sex", SEXES), name="consultation_patient_sex"),
        CheckConstraint(
            f"escalation_level BETWEEN 0 AND {MAX_ESCALATION_LEVEL}", name="consultation_escalation"
        ),
        CheckConstraint(
            "(status = 'active') = (doctor_id IS NOT NULL) OR status = 'closed'",
            name="consultation_doctor_when_active",
        ),
        Index("ix_consultations_queue", "status", "effective_priority", "queued_at"),
        Index("ix_consultations_doctor_status", "doctor_id", "status"),
        # The recent median time to accept per priority reads only its newest rows.
        Index("ix_consultations_priority_accepted", "effective_priority", "accepted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    client_key: Mapped[uuid.UUID] = mapped_column(Uuid)
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id"), index=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    patient_age_years: Mapped[int | None] = mapped_column(Integer)
    patient_age_months: Mapped[int | None] = mapped_column(Integer)
    patient_sex: Mapped[str] = mapped_column(String(8))
    patient_iin: Mapped[str | None] = mapped_column(String(12))
    patient_ref: Mapped[str | None] = mapped_column(String(64))
    complaint: Mapped[str] = mapped_column(Text)
    vitals: Mapped[dict] = mapped_column(JSON, default=dict)

    priority: Mapped[str] = mapped_column(String(16))
    effective_priority: Mapped[str] = mapped_column(String(16))
    specialty: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    news2: Mapped[dict | None] = mapped_column(JSON)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When it last entered the waiting queue: creation, or a release or transfer.
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the last escalation step was taken; the next one is measured from here (or queued_at).
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # Every payload names the facility, the requester, the doctor and the outcome: load them in the
    # same statement as the consultation instead of one query each (N+1 on a list).
    facility: Mapped[Facility] = relationship(lazy="joined")
    requester: Mapped[User] = relationship(foreign_keys=[requester_id], lazy="joined")
    doctor: Mapped[User | None] = relationship(foreign_keys=[doctor_id], lazy="joined")
    outcome: Mapped["Outcome | None"] = relationship(back_populates="consultation", uselist=False,
                                                     lazy="joined")
    events: Mapped[list["ConsultationEvent"]] = relationship(
        order_by="ConsultationEvent.id", back_populates="consultation"
    )

    @property
    def is_open(self) -> bool:
        """Waiting or active: still needs someone."""
        return self.status in ("waiting", "active")


class ConsultationEvent(db.Model):
    """One transition of a consultation: the audit trail and the timeline shown in the UI."""

    __tablename__ = "consultation_events"
    __table_args__ = (CheckConstraint(_in("kind", EVENT_KINDS), name="consultation_event_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultations.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    consultation: Mapped[Consultation] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("sender_id", "client_key", name="uq_message_client_key"),
        Index("ix_messages_consultation_created", "consultation_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultations.id"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    client_key: Mapped[uuid.UUID] = mapped_column(Uuid)
    attachment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("attachments.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    sender: Mapped[User] = relationship()
    attachment: Mapped["Attachment | None"] = relationship()


class Attachment(db.Model):
    """An ECG photo or a PDF a participant sent; the bytes live in the instance folder."""

    __tablename__ = "attachments"
    __table_args__ = (
        CheckConstraint(_in("content_type", ATTACHMENT_TYPES), name="attachment_content_type"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    consultation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("consultations.id"), index=True)
    uploader_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Outcome(db.Model):
    __tablename__ = "outcomes"
    __table_args__ = (CheckConstraint(_in("disposition", DISPOSITIONS), name="outcome_disposition"),)

    consultation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("consultations.id"), primary_key=True
    )
    doctor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    disposition: Mapped[str] = mapped_column(String(32))
    icd10: Mapped[list[str]] = mapped_column(JSON)
    recommendation: Mapped[str] = mapped_column(Text)
    follow_up_on: Mapped[date | None] = mapped_column(Date, index=True)
    follow_up_done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    follow_up_done_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    consultation: Mapped[Consultation] = relationship(back_populates="outcome")
