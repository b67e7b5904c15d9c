"""Regenerate the initial migration from the models (only until the first release).

Run after changing intake/cases/models.py: it rewrites migrations/versions/0001_*.py.
"""

import tempfile
from pathlib import Path

from alembic import command

from intake.cases.db import MIGRATIONS, alembic_config

for old in (MIGRATIONS / "versions").glob("0001_*.py"):
    old.unlink()
with tempfile.TemporaryDirectory() as tmp:
    cfg = alembic_config(f"sqlite:///{Path(tmp) / 'regen.db'}")
    command.revision(cfg, message="initial schema", autogenerate=True, rev_id="0001")
