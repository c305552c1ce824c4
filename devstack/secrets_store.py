"""The stack's generated secrets, kept in one ``0600`` JSON file inside its ignored work folder.

Nothing here is ever committed: every password, PIN and client secret is generated on first use and
reused after, so that re-running the stack keeps the same accounts and token.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path


class SecretStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._values: dict[str, str] = {}
        if path.exists():
            self._values = json.loads(path.read_text())

    def get(self, name: str, *, length: int = 18, digits_only: bool = False) -> str:
        """The secret ``name``, generated and saved on first use."""
        if name not in self._values:
            if digits_only:
                value = "".join(secrets.choice("0123456789") for _ in range(length))
            else:
                value = secrets.token_urlsafe(length)
            self._values[name] = value
            self._save()
        return self._values[name]

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(self._values, handle, indent=2)
        tmp.replace(self.path)
