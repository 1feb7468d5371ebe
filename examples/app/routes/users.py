"""The signed-in user's own account."""

from fastapi import APIRouter

from app.db import SessionDep
from app.deps import CurrentUser
from app.models import Message, User

router = APIRouter(prefix="/users", tags=["users"])


@router.get("/me", response_model=User)
def read_me(current_user: CurrentUser) -> User:
    return current_user


@router.delete("/me", response_model=Message)
def delete_me(session: SessionDep, current_user: CurrentUser) -> Message:
    session.delete(current_user)
    session.commit()
    return Message(message="Account deleted")
