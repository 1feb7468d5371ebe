"""Settings from the environment (and a .env file) via pydantic-settings."""

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    PROJECT_NAME: str = "Tasks"
    DATABASE_URL: str = "sqlite:///./tasks.db"
    SECRET_KEY: str = "9f2c4e1b7a8d4f6e0c3b5a7d9e1f2a4c6b8d0e2f4a6c8e0b2d4f6a8c0e2b4d6f"
    ACCESS_TOKEN_EXPIRE_MINUTES: int = 30
    ALGORITHM: str = "HS256"
    CORS_ORIGINS: list[str] = ["http://localhost:5173"]


settings = Settings()
