"""Proxies followed across the project's functions (`rules/_upstream.py`): a body sent whole to
another service through helpers in other modules (imported under another name), and the look-alikes
that are not proxies."""

from __future__ import annotations

import textwrap

from agent.analysis.runner import ReviewOptions, review_sources

HTTP = """
async def send_request(url: str, payload: bytes):
    session = await get_session()
    return await session.request(method="POST", url=url, data=payload)

async def openai_embeddings(request, form_data: dict, user):
    form_data["user"] = user.id
    return await send_request(URL, payload=JSONCodec.dumps(form_data).encode())
"""

DISPATCH = """
from app.http import openai_embeddings as forward_embeddings

async def generate_embeddings(request, form_data: dict, user):
    if "metadata" not in form_data:
        form_data["metadata"] = {}
    return await forward_embeddings(request=request, form_data=form_data, user=user)

async def summarize(request, form_data: dict, user):
    payload = {"input": form_data["text"], "meta": {"body": form_data}}
    return await forward_embeddings(request, payload, user)
"""

ROUTES = """
from fastapi import APIRouter, Depends
from app.dispatch import generate_embeddings, summarize

router = APIRouter()

@router.post("/api/embeddings")
async def embeddings(request: Request, form_data: dict, user=Depends(get_verified_user)):
    return await generate_embeddings(request, form_data, user)

@router.post("/api/summaries")
async def summaries(request: Request, form_data: dict, user=Depends(get_verified_user)):
    return await summarize(request, form_data, user)
"""


def _untyped_bodies() -> set[int]:
    sources = {"app/http.py": HTTP, "app/dispatch.py": DISPATCH, "app/routes.py": ROUTES}
    result = review_sources({p: textwrap.dedent(t) for p, t in sources.items()}, ReviewOptions(select=("FBA220",)))
    return {f.line for f in result.findings if f.path == "app/routes.py"}


def test_a_body_forwarded_whole_through_two_modules_is_a_proxy():
    lines = _untyped_bodies()
    routes = textwrap.dedent(ROUTES).splitlines()
    embeddings = next(n for n, text in enumerate(routes, 1) if "def embeddings" in text)
    summaries = next(n for n, text in enumerate(routes, 1) if "def summaries" in text)
    assert embeddings not in lines  # forwarded as is: the upstream API validates it
    assert summaries in lines  # fields read to build another payload: a schema would validate them
