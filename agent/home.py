"""fba's per-user data folder: `$FBA_HOME`, else `$XDG_DATA_HOME/fba`, else `~/.local/share/fba`.

Its own module, without the history store's imports (sqlite3): the review cache needs the folder
for its signing key on every run.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping


def data_home(environ: Mapping[str, str] | None = None) -> Path:
    """fba's per-user data folder."""
    environ = os.environ if environ is None else environ
    if environ.get("FBA_HOME"):
        return Path(environ["FBA_HOME"]).expanduser()
    if environ.get("XDG_DATA_HOME"):
        return Path(environ["XDG_DATA_HOME"]).expanduser() / "fba"
    return Path.home() / ".local" / "share" / "fba"
