"""Operational endpoints: health check and usage statistics."""

from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import func, select

from app.db import SessionDep
from app.models import Task, User

router = APIRouter(tags=["admin"])


class Stats(BaseModel):
    users: int
    tasks: int


@router.get("/health", response_model=dict[str, str])
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/admin/stats", response_model=Stats)
def usage_stats(session: SessionDep) -> Stats:
    users = session.exec(select(func.count()).select_from(User)).one()
    tasks = session.exec(select(func.count()).select_from(Task)).one()
    return Stats(users=users, tasks=tasks)
