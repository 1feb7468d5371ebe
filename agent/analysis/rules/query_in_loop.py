from __future__ import annotations

import ast
from typing import Iterator

from agent.analysis.facts import call_name, dotted_name
from agent.analysis.rules._db import (
    in_order,
    is_migration,
    query_calls,
    tainted_names,
    walk_body,
)
from agent.analysis.rules.base import FileContext, Rule
from agent.types import Finding

COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
LOOPS = (ast.For, ast.AsyncFor, *COMPREHENSIONS)
# Wrappers that iterate their argument unchanged.
PASS_THROUGH = frozenset({"enumerate", "list", "sorted", "reversed", "tuple", "set", "iter"})


class QueryInLoop(Rule):
    """A database query per row of another query's result (N+1).

    **What it does**
    Flags a query (`session.get/exec/execute/query/scalars`, `db.query(...)`,
    `await session.execute(...)`) inside a `for` loop or comprehension that iterates over the
    result of another query (directly, or through a variable holding it, or a relationship of
    a fetched row). Each finding points at the query that runs once per row.

    **Why is this bad?**
    One request issues 1 + N queries: latency and database load grow with the data, and a
    page of 100 rows becomes 101 round trips.

    **Example**
    ```python
    orders = session.exec(select(Order).where(Order.user_id == user.id)).all()
    for order in orders:
        customer = session.get(Customer, order.customer_id)
    ```

    **Use instead**
    ```python
    statement = select(Order).where(Order.user_id == user.id).options(selectinload(Order.customer))
    orders = session.exec(statement).all()
    ```

    **Known problems**
    Lazy-loaded relationship attributes (`order.customer`) are not seen, only explicit queries.
    Loops over request data (one lookup per submitted item) are not flagged: their length is
    bounded by the request, and they are often validation lookups. Queries hidden in helper
    functions called from the loop are not followed.
    """

    code = "FBA302"
    name = "query-in-loop"
    category = "n-plus-one"
    title = "Query inside a loop over query results (N+1)"

    VALID = (
        """
from sqlalchemy.orm import selectinload

def list_orders(session, user):
    statement = select(Order).where(Order.user_id == user.id).options(selectinload(Order.customer))
    orders = session.exec(statement).all()
    return [{"id": o.id, "customer": o.customer.name} for o in orders]

def create_items(session, payload):
    for item_in in payload.items:
        product = session.get(Product, item_in.product_id)
        session.add(Item(product_id=product.id))
    session.commit()
""",
        """
async def totals(session):
    result = await session.execute(select(Order))
    orders = result.scalars().all()
    count = (await session.execute(select(func.count()).select_from(Order))).scalar_one()
    for page in range(count):
        print(page)
    customers = await session.execute(select(Customer).where(Customer.id.in_([o.customer_id for o in orders])))
    return orders, customers.scalars().all()
""",
    )
    INVALID = (
        """
def order_report(session, user):
    orders = session.exec(select(Order).where(Order.user_id == user.id)).all()
    for order in orders:
        customer = session.get(Customer, order.customer_id)
        print(customer.name)
""",
        """
from fastapi import APIRouter
router = APIRouter()

@router.get("/posts")
async def list_posts(db: AsyncSession = Depends(get_db)):
    posts = (await db.execute(select(Post).limit(20))).scalars().all()
    return [
        {"post": p, "author": (await db.execute(select(User).where(User.id == p.author_id))).scalar_one()}
        for p in posts
    ]
""",
        """
def tags_of(db, user_id):
    for item in db.query(Item).filter(Item.owner_id == user_id):
        item.tags = db.query(Tag).filter(Tag.item_id == item.id).all()
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        if is_migration(ctx):
            return
        queries = query_calls(ctx)
        candidates = _functions_with_queries(ctx, queries, 2)  # the rows' query and one per row
        for func in ctx.functions:
            if func not in candidates:
                continue
            loops = [n for n in walk_body(func) if isinstance(n, LOOPS)]
            if not loops:
                continue
            reported: set[int] = set()
            results = tainted_names(func, queries.__contains__)
            for loop in in_order(iter(loops)):
                for query in _queries_per_row(loop, results, queries):
                    if id(query) not in reported:
                        reported.add(id(query))
                        yield self.finding(
                            ctx,
                            query,
                            f"{_describe(query)} runs once per row of an earlier query (N+1); "
                            "load the related rows in the first query (join, selectinload, or `in_(...)`)",
                            line=query.lineno,
                        )
                        break


def _functions_with_queries(ctx: FileContext, queries: set[ast.Call], at_least: int) -> set[ast.AST]:
    """The functions whose own body (nested scopes excluded) runs `at_least` queries."""
    counts: dict[ast.AST, int] = {}
    for call in queries:
        scope = ctx.enclosing_scope(call)
        counts[scope] = counts.get(scope, 0) + 1
    return {scope for scope, count in counts.items() if count >= at_least}


def _queries_per_row(loop: ast.AST, results: set[str], queries: set[ast.Call]) -> list[ast.Call]:
    """Queries run per iteration of `loop` when it iterates over query results."""
    if isinstance(loop, (ast.For, ast.AsyncFor)) and _over_query_results(loop.iter, results, queries):
        inner = [n for stmt in loop.body for n in [stmt, *walk_body(stmt)]]
    elif isinstance(loop, COMPREHENSIONS) and _over_query_results(loop.generators[0].iter, results, queries):
        parts = [loop.key, loop.value] if isinstance(loop, ast.DictComp) else [loop.elt]
        parts += [cond for gen in loop.generators for cond in gen.ifs] + [gen.iter for gen in loop.generators[1:]]
        inner = [n for part in parts for n in [part, *walk_body(part)]]
    else:
        return []
    return in_order(n for n in inner if n in queries)


def _over_query_results(expr: ast.AST, results: set[str], queries: set[ast.Call]) -> bool:
    """`rows`, `rows.items`, `enumerate(rows)`, `session.exec(q).all()`, `db.query(X).filter(...)`."""
    while isinstance(expr, ast.Call) and call_name(expr) in PASS_THROUGH and expr.args:
        expr = expr.args[0]
    if isinstance(expr, ast.Await):
        expr = expr.value
    name = dotted_name(expr)
    if name is not None:
        return name.split(".", 1)[0] in results
    return _query_chain(expr, queries)


def _query_chain(expr: ast.AST, queries: set[ast.Call]) -> bool:
    """A method chain that starts at a query: `session.scalars(q).all()`, `db.query(X).filter(...)`."""
    while True:
        if expr in queries:
            return True
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute):
            expr = expr.func.value
        elif isinstance(expr, ast.Await):
            expr = expr.value
        else:
            return False


def _describe(query: ast.Call) -> str:
    return ast.unparse(query.func) + "(...)"
