"""The two kinds of failure, as in Zulip's email gateway: theirs and ours.

``InputError`` is the sender's fault (the message can never be processed as it stands):
the message is quarantined with the reason, for a person to look at. ``TransientError``
is ours (a database hiccup, a relay down): the message is marked ``failed`` and retried.
Neither ever reaches a client as text.
"""


class InputError(Exception):
    """The input cannot be processed; quarantine it with this reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TransientError(Exception):
    """Something on our side failed; retry later."""
