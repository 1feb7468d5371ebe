"""Table models and the request/response schemas of the API."""

from datetime import datetime, timezone

from pydantic import EmailStr
from sqlmodel import Field, Relationship, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UserBase(SQLModel):
    email: EmailStr = Field(unique=True, index=True, max_length=255)
    full_name: str | None = Field(default=None, max_length=255)


class UserCreate(UserBase):
    password: str = Field(min_length=8, max_length=128)


class UserPublic(UserBase):
    id: int
    is_active: bool


class User(UserBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    hashed_password: str
    is_active: bool = True
    tasks: list["Task"] = Relationship(back_populates="owner", cascade_delete=True)


class TaskBase(SQLModel):
    title: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    done: bool = False


class TaskCreate(TaskBase):
    owner_id: int


class TaskUpdate(SQLModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    done: bool | None = None


class Task(TaskBase, table=True):
    id: int | None = Field(default=None, primary_key=True)
    owner_id: int = Field(foreign_key="user.id", index=True, ondelete="CASCADE")
    created_at: datetime = Field(default_factory=utcnow)
    owner: User | None = Relationship(back_populates="tasks")


class TaskPublic(TaskBase):
    id: int
    owner_id: int
    created_at: datetime


class TasksPublic(SQLModel):
    data: list[TaskPublic]
    count: int


class Token(SQLModel):
    access_token: str
    token_type: str = "bearer"


class Message(SQLModel):
    message: str
