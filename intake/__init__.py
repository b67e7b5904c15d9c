"""Intake: channels, the pipeline, cases, rules and the outbox."""
