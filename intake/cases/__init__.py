"""The case store: tables, sessions, references, queries and the audit trail."""
