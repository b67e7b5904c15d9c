"""Deadline and routing rules from the published procedures, kept as data."""
