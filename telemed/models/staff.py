"""Districts, facilities, staff accounts and doctors' presence."""
from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from telemed.db import UTCDateTime, utcnow
from telemed.extensions import db
from telemed.models.vocabulary import FACILITY_KINDS, PRESENCE_STATUSES, PROFESSIONS, ROLES, SPECIALTIES


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class District(db.Model):
    __tablename__ = "districts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    region: Mapped[str] = mapped_column(String(200))

    facilities: Mapped[list["Facility"]] = relationship(back_populates="district")


class Facility(db.Model):
    __tablename__ = "facilities"
    __table_args__ = (CheckConstraint(_in("kind", FACILITY_KINDS), name="facility_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    village: Mapped[str] = mapped_column(String(200))
    district_id: Mapped[int] = mapped_column(ForeignKey("districts.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    district: Mapped[District] = relationship(back_populates="facilities")


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="user_role"),
        CheckConstraint(_in("profession", PROFESSIONS), name="user_profession"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    profession: Mapped[str] = mapped_column(String(16))
    facility_id: Mapped[int | None] = mapped_column(ForeignKey("facilities.id"), index=True)
    specialties: Mapped[list[str]] = mapped_column(JSON, default=list)
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The language the person chose (ru, kk, en), or None: then the browser's, then the default.
    locale: Mapped[str | None] = mapped_column(String(8), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    facility: Mapped[Facility | None] = relationship()

    @validates("specialties")
    def _known_specialties(self, _key, value: list[str]) -> list[str]:
        unknown = set(value or ()) - set(SPECIALTIES)
        if unknown:
            raise ValueError(f"unknown specialties: {sorted(unknown)}")
        return sorted(set(value or ()))

    @property
    def is_active(self) -> bool:  # Flask-Login: a deactivated account cannot log in
        return bool(self.active)


class Presence(db.Model):
    """A doctor's presence as others see it: their chosen status while connected, else offline."""

    __tablename__ = "presence"
    __table_args__ = (CheckConstraint(_in("status", PRESENCE_STATUSES), name="presence_status"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="offline")
    chosen_status: Mapped[str] = mapped_column(String(16), default="available")
    # When the doctor's last connection went away; the grace period runs from here.
    offline_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PresenceServer(db.Model):
    """A serving process's heartbeat, refreshed by each pass of its sweep: its connections are
    alive while it is. One row a process, however many connections it holds."""

    __tablename__ = "presence_servers"

    server_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PresenceConnection(db.Model):
    """One open Socket.IO connection of a user, alive while its server's heartbeat is fresh.

    A server killed without warning leaves its rows behind; its heartbeat goes stale and the sweep
    removes them, so a doctor is never shown online by a connection that no longer exists.
    """

    __tablename__ = "presence_connections"

    sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # The login (browser session) it was opened with: ending the login closes it, on any process.
    login_id: Mapped[str | None] = mapped_column(String(64), index=True)
    server_id: Mapped[str] = mapped_column(String(64), index=True)
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the row was written: it counts as alive for one stale interval after that even before
    # its server's first heartbeat (presence_servers) is written.
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Login(db.Model):
    """One login (a browser session): checked on every request and socket event, ended at logout,
    deactivation, a password reset or a change of role or facility, or when it has lasted or idled
    too long. The session cookie carries only its id, so a copied cookie dies with it."""

    __tablename__ = "logins"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    ip: Mapped[str | None] = mapped_column(String(64))
