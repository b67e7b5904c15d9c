"""The Slack app: intake listeners, triage, phone modal, commands, reminders."""
