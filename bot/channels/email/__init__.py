"""Email over SMTP (aiosmtplib), delivered through the outbox."""
