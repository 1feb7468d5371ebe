"""CRUD for the signed-in user's tasks."""

from fastapi import APIRouter, HTTPException, Query, status
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from app.db import SessionDep
from app.deps import CurrentUser
from app.models import Task, TaskCreate, TaskPublic, TasksPublic, TaskUpdate

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("/", response_model=TasksPublic)
def list_tasks(
    session: SessionDep,
    current_user: CurrentUser,
    skip: int = Query(default=0, ge=0),
    limit: int = Query(default=50, ge=1, le=100),
) -> TasksPublic:
    mine = select(Task).where(Task.owner_id == current_user.id)
    count = session.exec(select(func.count()).select_from(mine.subquery())).one()
    tasks = session.exec(mine.order_by(col(Task.created_at).desc()).offset(skip).limit(limit)).all()
    return TasksPublic(data=tasks, count=count)


@router.get("/done", response_model=list[TaskPublic])
def list_done_tasks(session: SessionDep, current_user: CurrentUser) -> list[Task]:
    statement = select(Task).where(Task.owner_id == current_user.id, col(Task.done).is_(True))
    return session.exec(statement).all()


@router.post("/", response_model=TaskPublic, status_code=status.HTTP_201_CREATED)
def create_task(session: SessionDep, current_user: CurrentUser, task_in: TaskCreate) -> Task:
    task = Task(title=task_in.title, description=task_in.description, done=task_in.done, owner_id=task_in.owner_id)
    session.add(task)
    session.commit()
    session.refresh(task)
    return task


@router.get("/{task_id}", response_model=TaskPublic)
def read_task(session: SessionDep, current_user: CurrentUser, task_id: int) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Task not found")
    return task


@router.patch("/{task_id}", response_model=TaskPublic)
def update_task(session: SessionDep, current_user: CurrentUser, task_id: int, task_in: TaskUpdate) -> Task:
    task = session.get(Task, task_id)
    if task is None or task.owner_id != current_user.id:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Task not found")
    task.sqlmodel_update(task_in.model_dump(exclude_unset=True))
    session.add(task)
    try:
        session.commit()
    except IntegrityError as e:
        session.rollback()
        raise HTTPException(status_code=status.HTTP_409_CONFLICT, detail=str(e))
    session.refresh(task)
    return task


@router.delete("/{task_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_task(session: SessionDep, current_user: CurrentUser, task_id: int) -> None:
    task = session.get(Task, task_id)
    if task is None or task.owner_id != current_user.id:
        raise HTTPException(status_code=status.HTTP_404_NOT_FOUND, detail="Task not found")
    session.delete(task)
    session.commit()
