"""``python -m intake`` is ``intake-bot``."""

from intake.cli import main

main()
