"""Training certifications: their types, the records per staff member, specialty requirements."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from telemed.db import UTCDateTime, utcnow
from telemed.extensions import db
from telemed.models.staff import User


class CertificationType(db.Model):
    __tablename__ = "certification_types"
    __table_args__ = (CheckConstraint("validity_months > 0", name="certification_type_validity"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    validity_months: Mapped[int] = mapped_column(Integer)
    # The professions that must hold it; a facility where nobody holds it validly has a gap.
    required_for: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Certification(db.Model):
    __tablename__ = "certifications"
    __table_args__ = (
        UniqueConstraint("user_id", "type_id", "issued_on", name="uq_certification_issue"),
        CheckConstraint("expires_on > issued_on", name="certification_expires_after_issue"),
        # Covers the coverage report's per-person grouping, which then never reads the table.
        Index("ix_certifications_status", "user_id", "type_id", "issued_on", "expires_on",
              "revoked_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("certification_types.id"), index=True)
    issued_on: Mapped[date] = mapped_column(Date)
    expires_on: Mapped[date] = mapped_column(Date, index=True)
    issuer: Mapped[str | None] = mapped_column(String(200))
    number: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship()
    type: Mapped[CertificationType] = relationship()


class SpecialtyRequirement(db.Model):
    """A specialty that only doctors holding a valid certification of a type may take."""

    __tablename__ = "specialty_requirements"

    specialty: Mapped[str] = mapped_column(String(16), primary_key=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("certification_types.id"), primary_key=True)

    type: Mapped[CertificationType] = relationship()
