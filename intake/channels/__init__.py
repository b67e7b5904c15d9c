"""Channels turn their input into an IntakeRecord; nothing more."""
