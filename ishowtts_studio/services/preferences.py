"""Studio-wide preferences kept in the database (today: the default NFE an NFE study adopted)."""

from __future__ import annotations

from typing import Any

from ishowtts_studio.services.inputs import check_nfe
from ishowtts_studio.settings import Settings
from ishowtts_studio.store import Store

DEFAULT_NFE_PREF = "default_nfe"


class Preferences:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings, self.store = settings, store

    def default_nfe(self) -> int:
        """The adopted default NFE, else the configured one; the Live tab and API use it when none is given."""
        adopted = self.store.get_pref(DEFAULT_NFE_PREF)
        return int(adopted) if adopted is not None else self.settings.engine.default_nfe

    def default_nfe_adopted(self) -> bool:
        """True when the default NFE was adopted in NFE compare (not the configured `engine.default_nfe`)."""
        return self.store.get_pref(DEFAULT_NFE_PREF) is not None

    def set_default_nfe(self, nfe: Any) -> int:
        value = check_nfe(nfe)
        self.store.set_pref(DEFAULT_NFE_PREF, value)
        return value
