"""Live-chat tables: every message with its state, and the viewer -> voice table.

The tables are declared on the studio's SQLAlchemy `Base` (one database, one metadata) and created here, when
the chat service opens its `ChatStore`, so the studio's `store.py` needs no chat code. Each method is one short
transaction; one `ChatStore` is safe to share between threads.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, String, Text, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column, sessionmaker

from ishowtts_studio.services.chat.model import FINAL_STATES, ChatMessage, DropReason, MessageKind, MessageState
from ishowtts_studio.store import Store
from ishowtts_studio.store_models import Base, UTCDateTime, utcnow


class ChatMessageRow(Base):
    __tablename__ = "chat_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    arrived_at: Mapped[float] = mapped_column(Float, index=True)  # epoch seconds
    author: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[float] = mapped_column(Float, default=0.0)
    platform: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str | None] = mapped_column(String(16), nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    clean_text: Mapped[str] = mapped_column(Text, default="")
    spoken_text: Mapped[str] = mapped_column(Text, default="")
    voice: Mapped[str] = mapped_column(String(200), default="")
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    first_audio_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    started_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    extra: Mapped[str] = mapped_column(Text, default="{}")  # JSON: badges, batch size, ...


class ViewerVoiceRow(Base):
    __tablename__ = "chat_viewer_voices"

    author_key: Mapped[str] = mapped_column(String(200), primary_key=True)  # casefolded author
    author: Mapped[str] = mapped_column(String(200))  # as the viewer writes it
    voice: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


_CHAT_TABLES = [ChatMessageRow.__table__, ViewerVoiceRow.__table__]
_COPIED = ("author", "text", "amount", "platform", "arrived_at", "detail", "clean_text", "spoken_text", "voice",
           "duplicates", "first_audio_at", "started_at", "finished_at")


def _to_message(row: ChatMessageRow) -> ChatMessage:
    try:
        extra = json.loads(row.extra or "{}")
    except ValueError:
        extra = {}
    return ChatMessage(
        id=row.id, kind=MessageKind(row.kind), state=MessageState(row.state),
        reason=DropReason(row.reason) if row.reason else None, extra=extra if isinstance(extra, dict) else {},
        **{k: getattr(row, k) for k in _COPIED},
    )


def _fill(row: ChatMessageRow, msg: ChatMessage) -> None:
    for k in _COPIED:
        setattr(row, k, getattr(msg, k))
    row.kind, row.state = str(msg.kind), str(msg.state)
    row.reason = str(msg.reason) if msg.reason is not None else None
    row.extra = json.dumps(msg.extra, ensure_ascii=False, default=str)


class ChatStore:
    def __init__(self, store: Store) -> None:
        self.store = store
        Base.metadata.create_all(store.engine, tables=_CHAT_TABLES)
        self._sessions = sessionmaker(store.engine, expire_on_commit=False)

    def _session(self) -> Any:
        return self._sessions.begin()  # one short transaction: commit on success, rollback on error

    # ---- messages ------------------------------------------------------------------------------
    def add(self, msg: ChatMessage) -> int:
        """Insert a new message; sets and returns msg.id."""
        row = ChatMessageRow()
        _fill(row, msg)
        with self._session() as s:
            s.add(row)
            s.flush()
            msg.id = row.id
        return msg.id

    def save(self, *msgs: ChatMessage) -> None:
        """Write the current fields of already-stored messages (one transaction)."""
        with self._session() as s:
            for m in msgs:
                row = s.get(ChatMessageRow, m.id)
                if row is None:
                    raise KeyError(f"chat message {m.id} is not stored")
                _fill(row, m)

    def get(self, message_id: int) -> ChatMessage | None:
        with self._session() as s:
            row = s.get(ChatMessageRow, message_id)
            return _to_message(row) if row is not None else None

    def unfinished(self) -> list[ChatMessage]:
        """Messages not in a final state, oldest first (what a restart resumes)."""
        final = [str(st) for st in FINAL_STATES]
        stmt = select(ChatMessageRow).where(ChatMessageRow.state.not_in(final)).order_by(ChatMessageRow.id)
        with self._session() as s:
            return [_to_message(r) for r in s.scalars(stmt)]

    def recent(self, limit: int = 100) -> list[ChatMessage]:
        """Newest first."""
        stmt = select(ChatMessageRow).order_by(ChatMessageRow.id.desc()).limit(max(0, int(limit)))
        with self._session() as s:
            return [_to_message(r) for r in s.scalars(stmt)]

    def prune(self, before: float) -> int:
        """Delete finished messages (spoken, dropped, failed) that arrived before `before` (epoch seconds); the
        number deleted. Waiting and in-flight ones stay whatever their age: a restart resumes them."""
        final = [str(st) for st in FINAL_STATES]
        stmt = delete(ChatMessageRow).where(ChatMessageRow.arrived_at < before, ChatMessageRow.state.in_(final))
        with self._session() as s:
            return int(s.execute(stmt).rowcount or 0)

    def count_by_state(self) -> dict[str, int]:
        stmt = select(ChatMessageRow.state, func.count(ChatMessageRow.id)).group_by(ChatMessageRow.state)
        with self._session() as s:
            return {state: int(n) for state, n in s.execute(stmt)}

    # ---- viewer voices -------------------------------------------------------------------------
    def viewer_voices(self) -> dict[str, str]:
        """author (as written) -> voice name."""
        with self._session() as s:
            return {r.author: r.voice for r in s.scalars(select(ViewerVoiceRow).order_by(ViewerVoiceRow.author_key))}

    def viewer_voice(self, author: str) -> str | None:
        with self._session() as s:
            row = s.get(ViewerVoiceRow, author.casefold())
            return row.voice if row is not None else None

    def rename_viewer_voice(self, old: str, new: str) -> int:
        """Every viewer given voice `old` gets `new` (the voice was renamed); returns how many."""
        with self._session() as s:
            rows = s.scalars(select(ViewerVoiceRow).where(ViewerVoiceRow.voice == old)).all()
            for row in rows:
                row.voice = new
            return len(rows)

    def set_viewer_voice(self, author: str, voice: str | None) -> None:
        key = author.casefold()
        with self._session() as s:
            if not voice:
                s.execute(delete(ViewerVoiceRow).where(ViewerVoiceRow.author_key == key))
                return
            row = s.get(ViewerVoiceRow, key)
            if row is None:
                s.add(ViewerVoiceRow(author_key=key, author=author, voice=voice))
            else:
                row.author, row.voice = author, voice
