"""Orchestration: review, implement, chat and the shared change flow. No printing here."""
