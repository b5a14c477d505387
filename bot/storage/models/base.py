"""The declarative base every table is registered on (its datetimes are stored as UTC), and the severities
incidents and alerts share."""
from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy.orm import DeclarativeBase

from bot.storage.db import UTCDateTime


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}


class Severity(enum.StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"
