"""What the steps share while one stored message is processed."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from intake.cases.models import Case, Letter, Message
from intake.records import Classification, ParsedMessage
from intake.rules.deadlines import Deadlines
from intake.settings import Settings


@dataclass
class Context:
    session: Session
    settings: Settings
    message: Message
    parsed: ParsedMessage | None = None  # may be prepared before the transaction
    labels: Classification | None = None  # the classifier's own output, likewise
    classification: Classification | None = None  # labels with the form's fields on top
    deadlines: Deadlines | None = None
    case: Case | None = None
    letters: list[Letter] = field(default_factory=list)
    done: bool = False  # a step has settled the message's disposition

    def finish(self, disposition: str, reason: str | None = None) -> None:
        """Settle the disposition; later steps do not run."""
        self.message.disposition = disposition
        self.message.reason = reason
        self.done = True
