"""What the model may see: confined, deny-listed repository file tools (files.py) and redaction of
secret-looking values (redact.py)."""
