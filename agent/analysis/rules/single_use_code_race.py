from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Iterator

from agent.analysis.facts import call_name, callee_attr, dotted_name
from agent.analysis.rules._db import assigned_names, in_order, is_query, is_session, names_in, walk_body
from agent.analysis.rules._security import is_test_file
from agent.analysis.rules.base import FileContext, FunctionNode, Rule
from agent.analysis.walk import subtree_nodes
from agent.types import Finding

# Words of the names of things a client may redeem once: an invite, a one-time code, a reset or
# refresh token, a voucher.
SINGLE_USE_WORDS = frozenset({
    "token", "code", "invite", "invitation", "otp", "nonce", "voucher", "coupon", "magic", "verification",
    "reset", "redeem", "redemption", "onetime", "passcode", "pin",
})
# Calls that read one row: ORM finders and repository helpers.
READ_CALLS = frozenset({"first", "afirst", "one", "one_or_none", "scalar", "scalar_one", "scalar_one_or_none",
                        "get", "aget", "get_or_none", "find_one", "fetchrow", "fetch_one"})
READ_HELPER = re.compile(r"(get|find|fetch|load|lookup|read|validate|verify|check)_\w+")
CONSUME_HELPER = re.compile(r"(delete|remove|consume|redeem|use|mark|invalidate|revoke|expire|burn)(_\w+)?")
# Row attributes whose change uses the row up.
USED_ATTRIBUTE = re.compile(r"(is_)?(used|redeemed|consumed|claimed|spent|revoked)(_at|_on|_by\w*)?|uses|use_count|"
                            r"remaining(_uses)?|times_used|usage_count")
# Attributes a check of a redeemable row compares (an existence check alone is a revoke or a read).
VALIDITY_WORDS = ("expir", "used", "redeem", "consum", "claim", "valid", "spent", "revoked", "remaining", "uses")
# What makes the read-check-consume atomic: a row lock, or a consuming statement whose result is checked.
LOCKS = frozenset({"with_for_update", "select_for_update", "for_update", "returning", "rowcount", "skip_locked"})


@dataclass(frozen=True)
class _Redemption:
    read: ast.AST
    name: str
    check: ast.If
    consume: ast.AST


class SingleUseCodeRace(Rule):
    """A single-use code, token or invite checked, then used up in a separate step.

    **What it does**
    Flags a function that reads a row of something redeemable once (an invite, a one-time or
    verification code, a reset or refresh token, a voucher: by the names of the model, the
    variable or the helper), checks it (expiry, `used`, remaining uses) and then uses it up in
    a later statement: deletes it, marks it used, clears the code, or counts a use, directly,
    through a helper, in a background task, or after a dependency's `yield`. The read must not lock the row
    (`with_for_update()`, `select_for_update()`), and the function must not consume it with a
    statement whose result it checks (`DELETE ... RETURNING`, `rowcount`).

    **Why is this bad?**
    Two concurrent requests with the same code both read it before either uses it up, so both
    pass the check and both redeem it: an invite joins two accounts, a voucher pays twice, a
    refresh token mints two sessions.

    **Example**
    ```python
    invite = session.exec(select(Invite).where(Invite.code == code)).first()
    if invite is None or invite.expires_at < now():
        raise HTTPException(status_code=404)
    session.add(Member(team_id=invite.team_id, user_id=user.id))
    session.delete(invite)
    session.commit()
    ```

    **Use instead**
    ```python
    invite = session.exec(
        delete(Invite).where(Invite.code == code, Invite.expires_at > now()).returning(Invite)
    ).first()
    if invite is None:
        raise HTTPException(status_code=404)
    ```
    or `UPDATE ... WHERE used = false` checking `rowcount`, or read it with `.with_for_update()`.

    **Known problems**
    A unique constraint or a serializable transaction that makes the second redemption fail
    is not seen. Deleting a token by id after an existence check (revoking it) is not a
    redemption and is not flagged; a consume helper is recognised by its name only.
    """

    code = "FBA305"
    name = "single-use-code-race"
    category = "transaction"
    title = "Single-use code checked, then used up in a separate step"
    preview = True  # new: stays out of the default set until the ledger shows it holds

    VALID = (
        # Atomic consumption: DELETE ... RETURNING, UPDATE ... WHERE used = false + rowcount, a row lock.
        """
async def redeem_invite(session, code, user):
    invite = (await session.execute(
        delete(Invite).where(Invite.code == code, Invite.expires_at > now()).returning(Invite)
    )).scalar_one_or_none()
    if invite is None:
        raise HTTPException(status_code=404)
    session.add(Member(team_id=invite.team_id, user_id=user.id))
    await session.commit()

def use_reset_token(db, token, password):
    result = db.execute(
        update(ResetToken).where(ResetToken.token == token, ResetToken.used == False).values(used=True)
    )
    if result.rowcount != 1:
        raise HTTPException(status_code=400)
    db.commit()

def redeem_voucher(db, code, order):
    voucher = db.query(Voucher).filter(Voucher.code == code).with_for_update().first()
    if voucher is None or voucher.used:
        raise HTTPException(status_code=400)
    voucher.used = True
    order.discount = voucher.amount
    db.commit()
""",
        # Revoking a token by id: an existence check, then the delete; no redemption.
        """
from fastapi import APIRouter
router = APIRouter()

@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: int, session: SessionDep, user: CurrentUser) -> None:
    token = session.get(ApiToken, token_id)
    if token is None or token.user_id != user.id:
        raise HTTPException(status_code=404)
    session.delete(token)
    session.commit()
""",
    )
    INVALID = (
        """
from fastapi import APIRouter
router = APIRouter()

@router.post("/invites/{code}/accept")
def accept_invite(code: str, session: SessionDep, user: CurrentUser):
    invite = session.exec(select(Invite).where(Invite.code == code)).first()
    if invite is None or invite.expires_at < now():
        raise HTTPException(status_code=404)
    session.add(Member(team_id=invite.team_id, user_id=user.id))
    session.delete(invite)
    session.commit()
""",
        # Marked used through a flag; and a code cleared on the user row (Django-style ORM).
        """
async def reset_password(db, token, new_password):
    reset = await crud.get_reset_token(db, token)
    if not reset or reset.used:
        raise HTTPException(status_code=400)
    user = await db.get(User, reset.user_id)
    user.hashed_password = hash_password(new_password)
    reset.used = True
    await db.commit()

async def validate_email_code(code, email):
    user = await User.objects.filter(email_verification_code=code, email=email).afirst()
    if not user or user.email_verification_code_expiry < now():
        return None
    user.email_verification_code = None
    await user.asave()
    return user
""",
        # Used up by a background task, after the response.
        """
from fastapi import APIRouter, BackgroundTasks
router = APIRouter()

@router.post("/vouchers/redeem")
async def redeem(code: str, background_tasks: BackgroundTasks, session: SessionDep, user: CurrentUser):
    voucher = await vouchers.get_by_code(session, code)
    if voucher is None or voucher.expires_at < now():
        raise HTTPException(status_code=404)
    user.balance += voucher.amount
    background_tasks.add_task(delete_voucher, voucher.id)
    await session.commit()
""",
        # A dependency that checks the code and deletes it in its teardown, after the handler ran.
        """
async def valid_otp(code: str, session: SessionDep):
    otp = await session.scalar(select(Otp).where(Otp.code == code))
    if otp is None or otp.expires_at < now():
        raise HTTPException(status_code=401)
    yield otp
    await session.delete(otp)
    await session.commit()
""",
    )

    def check(self, ctx: FileContext) -> Iterator[Finding]:
        if is_test_file(ctx):
            return
        for func in ctx.functions:
            if _locks(func):
                continue
            for redemption in _redemptions(ctx, func):
                yield self.finding(
                    ctx,
                    redemption.read,
                    f"{func.name} reads '{redemption.name}', checks it at line {redemption.check.lineno} and uses it "
                    f"up at line {redemption.consume.lineno}: two concurrent requests can both pass the check "
                    "and both redeem it. Consume it in one statement (DELETE ... RETURNING, or UPDATE ... "
                    "WHERE used = false checking rowcount) or read it with .with_for_update()",
                    line=redemption.read.lineno,
                )


def _words(name: str) -> set[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return {w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w}


def _single_use(names: set[str]) -> bool:
    return any(_words(name) & SINGLE_USE_WORDS for name in names)


def _identifiers(node: ast.AST) -> set[str]:
    found: set[str] = set()
    for n in subtree_nodes(node):
        if isinstance(n, ast.Name):
            found.add(n.id)
        elif isinstance(n, ast.Attribute):
            found.add(n.attr)
        elif isinstance(n, ast.keyword) and n.arg:
            found.add(n.arg)
    return found


def _locks(func: FunctionNode) -> bool:
    """A row lock or a checked consuming statement anywhere in the function."""
    for node in walk_body(func):
        if isinstance(node, ast.Attribute) and node.attr in LOCKS:
            return True
        if isinstance(node, ast.keyword) and node.arg in LOCKS:
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "FOR UPDATE" in node.value.upper():
            return True
    return False


def _reads_one(value: ast.AST) -> bool:
    """A row read: a session query, an ORM finder (`.first()`, `.afirst()`), a repository getter."""
    for node in subtree_nodes(value):
        if not isinstance(node, ast.Call):
            continue
        if is_query(node) or (callee_attr(node) in READ_CALLS and not _string_key(node)):
            return True
        name = callee_attr(node)
        if name and READ_HELPER.fullmatch(name):
            return True
    return False


def _string_key(call: ast.Call) -> bool:
    """`headers.get("token")`, `payload.get("code")`: a mapping, not a row."""
    return bool(call.args) and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str)


def _redemptions(ctx: FileContext, func: FunctionNode) -> Iterator[_Redemption]:
    statements = in_order(n for n in walk_body(func) if isinstance(n, (ast.Assign, ast.AnnAssign)))
    for stmt in statements:
        names = assigned_names(stmt)
        if len(names) != 1 or stmt.value is None or not _reads_one(stmt.value):
            continue
        name = names[0]
        if not _single_use({name} | _identifiers(stmt.value)):
            continue
        check = _validity_check(func, name, stmt)
        if check is None:
            continue
        consume = _consumption(func, name, check)
        if consume is not None:
            yield _Redemption(stmt, name, check, consume)
            return  # one finding per function


def _after(node: ast.AST, anchor: ast.AST) -> bool:
    return (node.lineno, node.col_offset) > (getattr(anchor, "end_lineno", anchor.lineno), 0)


def _validity_check(func: FunctionNode, name: str, read: ast.AST) -> ast.If | None:
    """The first `if` after the read that tests the row's expiry or use and rejects
    (`if invite is None or invite.expires_at < now(): raise`)."""
    for node in in_order(n for n in walk_body(func) if isinstance(n, ast.If)):
        if not _after(node, read) or name not in names_in(node.test):
            continue
        tested = {n.attr.lower() for n in subtree_nodes(node.test) if isinstance(n, ast.Attribute)}
        rejects = any(isinstance(s, (ast.Raise, ast.Return)) for s in node.body)
        if rejects and any(word in attr for attr in tested for word in VALIDITY_WORDS):
            return node
    return None


def _consumption(func: FunctionNode, name: str, check: ast.If) -> ast.AST | None:
    """The first statement after the check that uses the row up."""
    for node in in_order(n for n in walk_body(func) if isinstance(n, (ast.Call, ast.Assign, ast.AugAssign))):
        if _after(node, check) and _consumes(node, name):
            return node
    return None


def _consumes(node: ast.AST, name: str) -> bool:
    if isinstance(node, (ast.Assign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        for target in targets:
            if not (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == name):
                continue
            if USED_ATTRIBUTE.fullmatch(target.attr):
                return True
            cleared = isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is None
            if cleared and _words(target.attr) & SINGLE_USE_WORDS:
                return True  # `user.email_verification_code = None`
        return False
    callee = node.func  # type: ignore[union-attr]
    args = [*node.args, *(kw.value for kw in node.keywords)]  # type: ignore[union-attr]
    if isinstance(callee, ast.Attribute) and callee.attr in {"delete", "adelete"}:
        if isinstance(callee.value, ast.Name) and callee.value.id == name and not args:
            return True  # `await invite.adelete()`
        if is_session(callee.value) and args and dotted_name(args[0]) == name:
            return True  # `session.delete(invite)`
    helper = (call_name(node) or "").rsplit(".", 1)[-1]
    if helper == "add_task" and node.args:  # type: ignore[union-attr]
        # `background_tasks.add_task(delete_invite, invite.id)`: used up after the response.
        task = (dotted_name(node.args[0]) or "").rsplit(".", 1)[-1]  # type: ignore[union-attr]
        return bool(CONSUME_HELPER.fullmatch(task)) and any(name in names_in(arg) for arg in args[1:])
    if CONSUME_HELPER.fullmatch(helper) and any(name in names_in(arg) for arg in args):
        return not is_session(callee.value) if isinstance(callee, ast.Attribute) else True
    return False
