"""A statement for the customer (issue 15 §4): one contract's month or term as a printable
HTML document, from the CLI (`ledger statement`) and the page `/finance/statements/{id}`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ledger.figures import STATEMENT_FIGURES, UNIT_NAMES
from ledger.presenters import local_window, money

if TYPE_CHECKING:
    from uuid import UUID

    from ledger.application import SupportLedger
    from ledger.projections.db import ViewDatabase

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def customer_statement(
    app: SupportLedger,
    db: ViewDatabase,
    contract_id: UUID,
    *,
    period: str | None = None,
    term: int | None = None,
) -> dict[str, Any]:
    """The data of one contract's statement: the agreement as it stands at the window's end,
    the statement's figures, every movement of points and sessions in the window (local
    dates, the ticket used on), fees and packages, totals, and the chain's digest at the
    position the statement was read at."""
    from ledger.audit.chain import digest_at  # noqa: PLC0415 - the chain's view only here
    from ledger.projections.credit_usage import CreditUsageView  # noqa: PLC0415 - as above

    view = CreditUsageView(db)
    (statement,) = view.statement(period=period, term=term, contract_id=contract_id)
    position = view.position()
    zone = ZoneInfo(statement["timezone"])
    contract = app.get_contract(contract_id)
    term_now = next(
        (t for t in contract.terms if t.starts_at < statement["end"] <= t.ends_at),
        contract.latest_term,
    )
    movements = []
    for m in view.movements(contract_id):
        if not statement["start"] <= m.at < statement["end"]:
            continue
        ticket = None if m.ticket_id is None else _ticket_key(app, m.ticket_id)
        sign = 1 if m.to_account == "available" else -1
        movements.append(
            {"at": m.at.astimezone(zone).strftime("%Y-%m-%d %H:%M"), "unit": m.unit,
             "kind": m.kind.replace("_", " "), "amount": sign * m.amount, "lot": m.lot_id,
             "key": m.idempotency_key or "", "ticket": ticket or ""}
        )  # fmt: skip
    link = digest_at(db, position)
    return {
        "statement": statement,
        "window": local_window(statement["start"], statement["end"], statement["timezone"]),
        "customer": contract.customer,
        "contract_id": str(contract_id),
        "tier": term_now.tier,
        "term_number": term_now.number,
        "term_window": local_window(term_now.starts_at, term_now.ends_at, contract.timezone),
        "licenses": term_now.licenses,
        "currency": contract.currency,
        "movements": movements,
        "units": UNIT_NAMES,
        "figures": STATEMENT_FIGURES,
        "position": position,
        "digest": str(link),
    }


def _ticket_key(app: SupportLedger, ticket_id: UUID) -> str:
    try:
        return str(app.get_ticket(ticket_id).external_key)
    except Exception:  # noqa: BLE001 - a ticket missing from the log shows as its id
        return str(ticket_id)


def render_statement(data: dict[str, Any]) -> str:
    """The statement as a printable HTML document (A4, a print stylesheet)."""
    template = _ENV.get_template("statement.html")
    return template.render(
        **data, money=money, local=lambda at, zone: at.astimezone(ZoneInfo(zone)),
        one_day=timedelta(days=1),
    )  # fmt: skip


def style_source(html: str) -> str:
    """The CSP source allowing the document's own stylesheet (`'sha256-...'`), so a page can
    serve it under a policy that allows no other inline style."""
    import base64  # noqa: PLC0415 - only the page needs it
    import hashlib  # noqa: PLC0415 - only the page needs it

    start = html.index("<style>") + len("<style>")
    css = html[start : html.index("</style>", start)]
    return f"'sha256-{base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()}'"
