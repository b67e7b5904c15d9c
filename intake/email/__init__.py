"""Email intake: the SMTP edge, parsing, screening and the outbox sender."""
