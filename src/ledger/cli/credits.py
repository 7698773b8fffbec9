"""Support points and training sessions (`ledger credits ...`)."""

from __future__ import annotations

import click
from rich.markup import escape
from rich.table import Table

from ledger.cli.support import (
    Runtime,
    at_option,
    csv_option,
    done,
    emit,
    emit_rows,
    json_option,
    parse_expiry,
    pass_runtime,
    resolve_at,
)
from ledger.display import time_text
from ledger.parsing import parse_decimal, parse_instant
from ledger.render import console, err_console, fmt


@click.group("credits")
def credits_group() -> None:
    """Support points and training sessions."""


@credits_group.command("purchase")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--points", required=True, help="Points in the package.")
@click.option("--price", required=True, help="Price paid, in the contract's currency.")
@click.option("--key", required=True, help="Idempotency key of the purchase.")
@click.option("--expires", help="Last day the points can be used (YYYY-MM-DD) or an instant.")
@at_option()
@json_option
@pass_runtime
def credits_purchase(
    runtime: Runtime,
    *,
    contract_ref: str,
    points: str,
    price: str,
    key: str,
    expires: str | None,
    at_text: str | None,
    as_json: bool,
) -> None:
    """Buy a package of points."""
    contract_id = runtime.ledger.contract_id(contract_ref, "CONTRACT")
    app = runtime.ledger
    expires_at = parse_expiry(expires, app.get_contract(contract_id).timezone) if expires else None
    result = app.purchase_credits(
        contract_id,
        points=parse_decimal(points, "--points", positive=True),
        price=parse_decimal(price, "--price"),
        key=key,
        expires_at=expires_at,
        at=resolve_at(at_text),
    )
    note = "" if result["recorded"] else " (already recorded under this key)"
    said = f"{key}: bought {fmt(result['amount'])} points (lot {result['lot_id']}){note}"
    done(result, as_json, said)


@credits_group.command("consume")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--points", required=True, help="Points used.")
@click.option("--activity", required=True, help="What they were used for.")
@click.option("--key", required=True, help="Idempotency key of the consumption.")
@click.option("--ticket", "ticket_ref", help="The ticket (id or key) the work was for.")
@at_option()
@json_option
@pass_runtime
def credits_consume(
    runtime: Runtime,
    *,
    contract_ref: str,
    points: str,
    activity: str,
    key: str,
    ticket_ref: str | None,
    at_text: str | None,
    as_json: bool,
) -> None:
    """Use points, drawn from the lot that expires first; never below zero."""
    result = runtime.ledger.consume_credits(
        runtime.ledger.contract_id(contract_ref, "CONTRACT"),
        points=parse_decimal(points, "--points", positive=True),
        activity=activity,
        key=key,
        ticket=ticket_ref,
        at=resolve_at(at_text),
    )
    note = "" if result["recorded"] else " (already recorded under this key)"
    done(
        result,
        as_json,
        f"{key}: consumed {fmt(result['points'])} points for {activity}{note}; "
        f"{fmt(result['balance'])} left",
    )


@credits_group.command("alert-threshold")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--points", required=True, help="Points below which balance_low is recorded.")
@click.option("--actor", help="Who sets it (default: the system user).")
@at_option()
@json_option
@pass_runtime
def credits_alert_threshold(
    runtime: Runtime,
    *,
    contract_ref: str,
    points: str,
    actor: str | None,
    at_text: str | None,
    as_json: bool,
) -> None:
    """Set the low-balance threshold: a balance_low fact once per fall below it."""
    import getpass  # noqa: PLC0415

    result = runtime.ledger.set_alert_threshold(
        runtime.ledger.contract_id(contract_ref, "CONTRACT"),
        points=parse_decimal(points, "--points", positive=True),
        actor=actor or getpass.getuser(),
        at=resolve_at(at_text),
    )
    state = "below it now" if result["low"] else "not below it"
    note = "" if result["recorded"] else " (unchanged)"
    done(
        result,
        as_json,
        f"threshold {fmt(result['threshold'])} points{note}; "
        f"{fmt(result['available'])} available, {state}",
    )


@credits_group.command("reverse")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--key", required=True, help="Idempotency key of the consumption to reverse.")
@click.option("--points", help="Points to return (default: all that is left of it).")
@click.option("--reason", required=True, help="Why.")
@at_option()
@json_option
@pass_runtime
def credits_reverse(
    runtime: Runtime,
    *,
    contract_ref: str,
    key: str,
    points: str | None,
    reason: str,
    at_text: str | None,
    as_json: bool,
) -> None:
    """Return points of a consumption to the lots they came from."""
    result = runtime.ledger.reverse_consumption(
        runtime.ledger.contract_id(contract_ref, "CONTRACT"),
        key=key,
        points=parse_decimal(points, "--points", positive=True) if points else None,
        reason=reason,
        at=resolve_at(at_text),
    )
    note = "" if result["recorded"] else " (already recorded)"
    done(
        result,
        as_json,
        f"{key}: reversed {fmt(result['points'])} points{note}; {fmt(result['balance'])} available",
    )


@credits_group.command("training")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option("--key", help="Idempotency key of the session (default: a new one).")
@click.option("--topic", default="", help="What the session covered.")
@at_option()
@json_option
@pass_runtime
def credits_training(
    runtime: Runtime,
    *,
    contract_ref: str,
    key: str | None,
    topic: str,
    at_text: str | None,
    as_json: bool,
) -> None:
    """Hold one 30-minute online training session."""
    result = runtime.ledger.hold_training(
        runtime.ledger.contract_id(contract_ref, "CONTRACT"),
        key=key,
        topic=topic,
        at=resolve_at(at_text),
    )
    done(result, as_json, f"training session held; {fmt(result['sessions_left'])} left")


@credits_group.command("balance")
@click.argument("contract_ref", metavar="CONTRACT")
@click.option(
    "--as-of", "as_of", metavar="ISO8601", help="The account as recorded at this instant."
)
@at_option("Balances usable at this instant (default: now, or --as-of).")
@json_option
@pass_runtime
def credits_balance(
    runtime: Runtime, *, contract_ref: str, as_of: str | None, at_text: str | None, as_json: bool
) -> None:
    """Points and training sessions available, lot by lot."""
    from ledger.presenters import account_view  # noqa: PLC0415 - not needed at start-up

    contract_id = runtime.ledger.contract_id(contract_ref, "CONTRACT")
    recorded_by = parse_instant(as_of, "--as-of") if as_of else None
    at = resolve_at(at_text) if at_text or recorded_by is None else recorded_by
    data = account_view(runtime.ledger.get_account(contract_id, as_of=recorded_by), at)

    def render() -> None:
        console.print(f"{escape(data['customer'])}, credit account {data['account_id']}")
        console.print(
            f"points available {fmt(data['points_available'])}, "
            f"training sessions available {fmt(data['sessions_available'])} "
            f"(at {time_text(at)})"
        )
        table = Table(
            "lot", "unit", "kind", "granted", "left", "expired", "usable from", "expires", "state"
        )
        for lot in data["lots"]:
            table.add_row(
                lot["lot_id"],
                lot["unit"],
                lot["kind"],
                fmt(lot["amount"]),
                fmt(lot["remaining"]),
                fmt(lot["expired_amount"]),
                fmt(lot["available_from"]),
                fmt(lot["expires_at"]),
                lot["state"],
            )
        console.print(table)

    emit(data, as_json, render)


@credits_group.command("history")
@click.argument("contract_ref", metavar="CONTRACT")
@json_option
@csv_option
@pass_runtime
def credits_history(runtime: Runtime, *, contract_ref: str, as_json: bool, as_csv: bool) -> None:
    """Every movement of the credit account: grants, purchases, draws, reversals, expiries,
    with their lots, keys and tickets, and the balance after each."""
    from ledger.cli.reports import report_position  # noqa: PLC0415 - not needed at start-up
    from ledger.reports import (  # noqa: PLC0415 - not needed at start-up
        CREDIT_HISTORY_COLUMNS,
        credit_history,
    )

    contract_id = runtime.ledger.contract_id(contract_ref, "CONTRACT")
    data = credit_history(
        runtime.database, runtime.ledger, contract_id, reads=runtime.read_database,
        reader=runtime.reader,
    )  # fmt: skip
    if as_json:
        emit(data, as_json, lambda: None)
        return
    columns = CREDIT_HISTORY_COLUMNS if as_csv else CREDIT_HISTORY_COLUMNS[:9]
    title = f"credits of {data['customer']} (account {data['account_id']})"
    emit_rows(data["rows"], columns, as_json=False, as_csv=as_csv, title=title)
    if not as_csv:
        where = (data["projection"], data["position"], data["head"], data["read_from"])
        err_console.print(report_position(*where))
