"""fba: an expert FastAPI backend reviewer and implementer (fastapi-backend-agent)."""

__version__ = "0.1.0"
