"""Handlers for account requests: positions, account updates (plain and multi), summary, time."""

from __future__ import annotations

from tests.fake_tws.connection import Session
from tests.fake_tws.context import Context
from tests.fake_tws.messages import system
from tests.fake_tws.requests import to_bool, to_int


def positions(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqPositions (61): the download, and a subscription that stays active."""
    session.subscriptions.positions = True
    ctx.account_feed.send_positions(session)


def cancel_positions(ctx: Context, session: Session, fields: list[str]) -> None:
    """cancelPositions (64)."""
    session.subscriptions.positions = False


def account_updates(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqAccountUpdates (6): `6, 2, subscribe, acctCode`."""
    subscribe, account = to_bool(fields[2]), fields[3] or ctx.accounts[0]
    if not subscribe:
        session.subscriptions.account_updates = None
        return
    if account not in ctx.accounts:
        session.send(system.error(-1, 321, f"Account {account!r} is not managed here; use {ctx.accounts}"))
        return
    session.subscriptions.account_updates = account
    ctx.account_feed.send_account_download(session, account)


def account_updates_multi(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqAccountUpdatesMulti (76): `76, 1, reqId, account, modelCode, ledgerAndNLV`."""
    req_id, account = to_int(fields[2]), fields[3]
    if account not in ctx.accounts:
        session.send(
            system.error(req_id, 321, f"Account {account!r} is not managed here; use {ctx.accounts}")
        )
        return
    session.subscriptions.account_multi[req_id] = account
    ctx.account_feed.send_account_multi(session, req_id, account, download=True)


def cancel_account_updates_multi(ctx: Context, session: Session, fields: list[str]) -> None:
    """cancelAccountUpdatesMulti (77)."""
    session.subscriptions.account_multi.pop(to_int(fields[2]), None)


def account_summary(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqAccountSummary (62): `62, 1, reqId, group, tags` (a one-off answer here)."""
    tags = {tag.strip() for tag in fields[4].split(",")}
    ctx.account_feed.send_summary(session, to_int(fields[2]), tags, ctx.accounts)


def cancel_account_summary(ctx: Context, session: Session, fields: list[str]) -> None:
    """cancelAccountSummary (63): nothing is streaming, so nothing to stop."""


def managed_accounts(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqManagedAccts (17)."""
    session.send(system.managed_accounts(ctx.accounts))


def current_time(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqCurrentTime (49)."""
    session.send(system.current_time(int(ctx.clock().timestamp())))
