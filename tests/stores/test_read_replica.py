"""Reads from a replica (`LEDGER_READ_DATABASE_URL`) against a real streaming standby.

The session makes a PostgreSQL 15 standby of the test server with `pg_basebackup -R` and
drops it afterwards. Commands, the projection runner and the history are recorded on the
primary; the reports, the contract list, the credit history, the look-aheads, the API,
`audit replay` and the metrics read the standby, write nothing there, and say how far behind
the primary's head they read.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from ledger.projections import PROJECTIONS
from ledger.projections.runner import run_projections
from ledger.settings import Settings
from ledger.web.app import create_app
from ledger.wiring import open_ledger
from tests.conftest import REQUIRE_POSTGRES, create_schema, drop_schema, require_postgres
from tests.e2e.cli import run
from tests.scenario import at, build_world
from tests.standby import (
    Standby,
    StandbyUnavailableError,
    replay_paused,
    start_standby,
    stop_standby,
    wait_for_replay,
)
from tests.web.conftest import TestClient, issue_tokens

if TYPE_CHECKING:
    from collections.abc import Iterator

    from ledger.application import SupportLedger
    from ledger.settings import DatabaseSettings
    from tests.scenario import World

TICKET = {"version": "24.2.1", "platform": "linux"}
BOARD_AT = "2025-03-03T12:00:00Z"
# A window that holds the end of Delta's first term (1 February 2026) and no other contract's.
AHEAD = ("--within", "30d", "--at", "2026-01-15T00:00:00Z")


@pytest.fixture(scope="session")
def standby() -> Iterator[Standby]:
    """A streaming standby of the test server for the session (skipped with the reason when
    one cannot be made here; a failure when LEDGER_REQUIRE_POSTGRES=1)."""
    primary = require_postgres()
    try:
        made = start_standby(primary)
    except StandbyUnavailableError as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"LEDGER_REQUIRE_POSTGRES=1 but no standby could be made: {exc}")
        pytest.skip(f"no standby could be made: {exc}")
    try:
        yield made
    finally:
        stop_standby(made)


class Replicated:
    """A schema of its own on the primary, its history, and the same schema on the standby."""

    def __init__(
        self,
        primary: DatabaseSettings,
        standby: Standby,
        app: SupportLedger | None = None,
        world: World | None = None,
    ) -> None:
        self.primary = primary
        self.standby = standby
        self._app, self._world = app, world
        self.reads = replace(standby.settings.with_schema(primary.schema), read_only=True)
        self.env = {
            "LEDGER_DATABASE_URL": f"postgresql://{primary.user}@{primary.host}:{primary.port}/"
            f"{primary.dbname}?schema={primary.schema}",
            "LEDGER_READ_DATABASE_URL": f"postgresql://{primary.user}@127.0.0.1:{standby.port}/"
            f"{primary.dbname}",
        }

    @property
    def app(self) -> SupportLedger:
        """The application on the primary that recorded the history."""
        assert self._app is not None
        return self._app

    @property
    def world(self) -> World:
        """The ids of the three contracts."""
        assert self._world is not None
        return self._world

    def ledger(self, *args: str) -> Any:
        """`ledger ARGS --json` with both URLs set; its JSON (it must succeed)."""
        result = run(*args, "--json", env=self.env)
        assert result.code == 0, result.err
        return result.json

    def replayed(self) -> None:
        wait_for_replay(self.primary, self.standby)

    def head(self, settings: DatabaseSettings) -> int:
        """The newest position of the log as `settings`' server holds it."""
        with psycopg.connect(**settings.psycopg_conninfo(), autocommit=True) as conn:  # type: ignore[arg-type]
            row = conn.execute(
                f'SELECT COALESCE(MAX(notification_id), 0) FROM "{settings.schema}".ledger_events'
            ).fetchone()
        return int(row[0]) if row else 0


def open_ticket(app: SupportLedger, world: World, key: str, hour: int) -> None:
    app.open_ticket(
        contract_id=world.premium, reporter="ops@acme.example", severity=1, key=key,
        at=at(3, 3, hour), **TICKET,
    )  # fmt: skip


@pytest.fixture
def replicated(standby: Standby) -> Iterator[Replicated]:
    """Three contracts and one Premium ticket on the primary, every view run there (as the
    projector service does), all of it replayed on the standby."""
    primary = create_schema(require_postgres())
    app = open_ledger(primary)
    try:
        world = build_world(app)
        open_ticket(app, world, "P-1", 9)
        run_projections(primary, app, list(PROJECTIONS.values()), once=True)
        here = Replicated(primary, standby, app, world)
        here.replayed()
        yield here
    finally:
        app.close()
        drop_schema(primary)


def test_a_report_on_the_standby_shows_the_data_and_how_far_behind_the_primary_it_is(
    replicated: Replicated,
) -> None:
    """The board reads the standby's view as it stands, never catches it up, and says the
    position it read, the primary's head and the events between them."""
    head = replicated.head(replicated.primary)
    board = replicated.ledger("report", "breaches", "--at", BOARD_AT)
    assert (board["read_from"], board["position"], board["head"], board["behind"]) == (
        "replica", head, head, 0,
    )  # fmt: skip
    assert [r["key"] for r in board["rows"]] == ["P-1"]

    open_ticket(replicated.app, replicated.world, "P-2", 10)
    replicated.replayed()
    later = replicated.head(replicated.primary)
    assert later > head
    board = replicated.ledger("report", "breaches", "--at", BOARD_AT)
    assert (board["position"], board["head"], board["behind"]) == (head, later, later - head)
    assert [r["key"] for r in board["rows"]] == ["P-1"]  # the view as the standby holds it
    table = run("report", "breaches", "--at", BOARD_AT, env=replicated.env)
    assert table.code == 0, table.err
    assert f"the primary's log is at {later}, {later - head} event(s) behind" in table.err
    # Nothing caught the primary's view up either: reads from a standby write nowhere.
    primary_board = run(
        "report", "breaches", "--at", BOARD_AT, "--no-catch-up", "--json",
        env={"LEDGER_DATABASE_URL": replicated.env["LEDGER_DATABASE_URL"]},
    ).json  # fmt: skip
    assert (primary_board["read_from"], primary_board["position"]) == ("primary", head)


def test_the_api_and_the_metrics_read_the_standby_and_say_so(replicated: Replicated) -> None:
    """The API's reports come from the standby with `read_from` and `behind`, the CSV with
    headers; a credit check still reads the primary, caught up."""
    settings = Settings.from_env(replicated.env)
    assert settings.read_database is not None
    assert settings.read_database.read_only
    with TestClient(create_app(settings)) as client:
        tokens = issue_tokens(replicated.primary)
        auth = {"Authorization": f"Bearer {tokens['auditor']}"}
        open_ticket(replicated.app, replicated.world, "P-3", 11)
        replicated.replayed()
        head = replicated.head(replicated.primary)
        board = client.get("/api/v1/reports/breaches", params={"at": BOARD_AT}, headers=auth).json()
        assert (board["read_from"], board["head"]) == ("replica", head)
        assert board["behind"] == head - board["position"] > 0
        assert [r["key"] for r in board["rows"]] == ["P-1"]
        as_csv = client.get(
            "/api/v1/reports/credits", params={"period": "2025-03", "format": "csv"}, headers=auth
        )
        assert as_csv.status_code == 200, as_csv.text
        assert as_csv.headers["x-ledger-read-from"] == "replica"
        checked = client.get(
            "/api/v1/reports/credits", params={"period": "2025-03", "check": True}, headers=auth
        ).json()
        assert (checked["read_from"], checked["position"], checked["behind"]) == (
            "primary", head, 0,
        )  # fmt: skip
        metrics = client.get("/metrics", headers=auth)
        assert metrics.status_code == 200, metrics.text
        assert f"ledger_log_head {head}" in metrics.text
        signed_in = client.post(
            "/signin", data={"token": tokens["agent"], "next": "/ops"},
            headers={"Origin": "http://testserver"}, follow_redirects=False,
        )  # fmt: skip
        assert signed_in.status_code == 303, signed_in.text
        page = client.get("/ops/board")
        assert page.status_code == 200, page.text
        assert f"read on the standby, {board['behind']} behind the primary" in page.text


def test_the_contract_list_history_and_look_aheads_show_what_the_standby_replayed(
    replicated: Replicated,
) -> None:
    """A contract signed and points drawn on the primary (its views caught up there) reach the
    contract list, the credit history and the look-aheads of the CLI, the API and the page
    only once the standby has replayed them; until then each says how far behind it is."""
    app, world = replicated.app, replicated.world
    settings = Settings.from_env(replicated.env)
    with TestClient(create_app(settings)) as client, replay_paused(replicated.standby):
        auth = {"Authorization": f"Bearer {issue_tokens(replicated.primary)['finance']}"}
        before = replicated.head(replicated.reads)
        app.sign_contract(
            customer="Delta Customer", tier="advanced", licenses=2, license_kind="commercial",
            list_price=Decimal(20000), start=date(2025, 2, 1), at=at(1, 20),
        )  # fmt: skip
        app.consume_credits(world.advanced, points=Decimal(2), activity="analysis", key="R-1",
                            at=at(3, 5))  # fmt: skip
        run_projections(replicated.primary, app, list(PROJECTIONS.values()), once=True)
        head = replicated.head(replicated.primary)
        assert head > before == replicated.head(replicated.reads)
        seen = read_everything(replicated, client, auth)
        assert "Delta Customer" not in seen["customers"]
        assert "R-1" not in seen["keys"]
        assert (seen["expiring"], seen["renewals"]) == ([], [])
        for answer in seen["answers"]:
            assert (answer["read_from"], answer["head"]) == ("replica", head), answer
            assert answer["behind"] == head - answer["position"] > 0, answer
        assert seen["expiring_position"] == before
        assert "read on the standby" in seen["page"]
        assert "the primary's log is at" in seen["table"]
    replicated.replayed()
    with TestClient(create_app(settings)) as client:
        seen = read_everything(replicated, client, auth)
    assert "Delta Customer" in seen["customers"]
    assert "R-1" in seen["keys"]
    assert {lot["customer"] for lot in seen["expiring"]} == {"Delta Customer"}
    assert [r["customer"] for r in seen["renewals"]] == ["Delta Customer"] * 2
    assert {(a["read_from"], a["behind"]) for a in seen["answers"]} == {("replica", 0)}


def read_everything(replicated: Replicated, client: TestClient, auth: dict[str, str]) -> Any:
    """The contract list, Advanced's credit history and the look-aheads, from the CLI (JSON
    and a table), the API and the contracts page, with both URLs set."""
    advanced = str(replicated.world.advanced)
    listed = replicated.ledger("contract", "list")
    table = run("contract", "list", env=replicated.env)
    assert table.code == 0, table.err
    api_list = client.get("/api/v1/contracts", headers=auth).json()
    history = replicated.ledger("credits", "history", advanced)
    api_history = client.get(f"/api/v1/contracts/{advanced}/credits/history", headers=auth).json()
    expiring = replicated.ledger("report", "credits", "expiring", *AHEAD)
    renewals = replicated.ledger("report", "renewals", *AHEAD)
    window = {"within": "30d", "at": "2026-01-15T00:00:00Z"}
    api_expiring = client.get(
        "/api/v1/reports/credits/expiring", params=window, headers=auth
    ).json()
    api_renewals = client.get("/api/v1/reports/renewals", params=window, headers=auth).json()
    signed_in = client.post(
        "/signin", data={"token": auth["Authorization"].removeprefix("Bearer "),
                         "next": "/contracts"},
        headers={"Origin": "http://testserver"}, follow_redirects=False,
    )  # fmt: skip
    assert signed_in.status_code == 303, signed_in.text
    page = client.get("/contracts")
    assert page.status_code == 200, page.text
    return {
        "customers": {r["customer"] for r in [*listed, *api_list["rows"]]},
        "keys": {r["key"] for r in [*history["rows"], *api_history["rows"]]},
        "expiring": [*expiring["lots"], *api_expiring["lots"]],
        "expiring_position": expiring["position"],
        "renewals": [*renewals["renewals"], *api_renewals["renewals"]],
        "answers": [api_list, history, api_history, expiring, renewals, api_expiring,
                    api_renewals],
        "page": page.text,
        "table": table.err,
    }  # fmt: skip


def test_audit_replay_reads_the_standby_log_into_a_file(replicated: Replicated) -> None:
    """`audit replay` reads the events on the standby and replays them outside it."""
    then = replicated.ledger(
        "audit", "replay", "--as-of", datetime.now(UTC).isoformat(), "--report", "breaches",
        "--at", BOARD_AT,
    )  # fmt: skip
    assert then["read_from"] == "replica"
    assert [r["key"] for r in then["rows"]] == ["P-1"]
    assert then["head"] == replicated.head(replicated.reads)


def test_a_command_with_the_read_url_set_records_on_the_primary(replicated: Replicated) -> None:
    """Commands and the projection runner use the primary; the standby receives their events
    by replication only."""
    before = replicated.head(replicated.primary)
    opened = replicated.ledger(
        "ticket", "open", "--contract", str(replicated.world.premium),
        "--reporter", "qa@acme.example", "--severity", "2", "--version", "24.2.1",
        "--platform", "linux", "--key", "P-9", "--at", "2025-03-04T09:00:00Z",
    )  # fmt: skip
    assert (opened["status"], opened["recorded"]) == ("open", True)
    assert replicated.head(replicated.primary) > before
    outcomes = replicated.ledger("projections", "run", "--once")
    assert {o["name"]: o["status"] for o in outcomes}["sla_breaches"] == "caught_up"
    replicated.replayed()
    assert replicated.head(replicated.reads) == replicated.head(replicated.primary)
    board = replicated.ledger("report", "breaches", "--at", "2025-03-04T10:00:00Z")
    assert board["behind"] == 0
    assert "P-9" in {r["key"] for r in board["rows"]}


def test_the_standby_refuses_writes_and_the_reads_attempt_none(
    replicated: Replicated,
) -> None:
    """A write on the standby is refused by the server; reports, replays and the metrics
    through the read URL leave no refused write in its log."""
    logged = len(replicated.standby.log_text())
    replicated.ledger("report", "breaches", "--at", BOARD_AT)
    replicated.ledger("report", "breach-stats", "--by", "tier", "--at", BOARD_AT)
    replicated.ledger("report", "credits", "--period", "2025-03")
    replicated.ledger("contract", "list")
    replicated.ledger("credits", "history", str(replicated.world.advanced))
    replicated.ledger("report", "credits", "expiring", *AHEAD)
    replicated.ledger("report", "renewals", *AHEAD)
    replicated.ledger(
        "audit", "replay", "--as-of", datetime.now(UTC).isoformat(), "--report", "credits",
        "--period", "2025-03",
    )  # fmt: skip
    assert "read-only transaction" not in replicated.standby.log_text()[logged:]
    with (
        psycopg.connect(**replicated.reads.psycopg_conninfo(), autocommit=True) as conn,  # type: ignore[arg-type]
        pytest.raises(psycopg.errors.ReadOnlySqlTransaction),
    ):
        conn.execute(f'CREATE TABLE "{replicated.reads.schema}".nope (x int)')


def test_an_unreachable_read_database_is_an_outage_naming_only_its_host(
    replicated: Replicated,
) -> None:
    """A standby that does not answer is exit 4, naming its host, never the URL's secrets."""
    env = {
        **replicated.env,
        "LEDGER_READ_DATABASE_URL": "postgresql://reader:s3cret-pw@127.0.0.1:1/replicadb"
        "?connect_timeout=2",
    }
    result = run("report", "breaches", "--json", env=env)
    assert result.code == 4, result.err
    message = result.error["message"]
    assert "127.0.0.1" in message
    assert not any(secret in message for secret in ("s3cret-pw", "reader", "replicadb"))


def test_a_view_the_primary_never_built_is_named_not_created_on_the_standby(
    standby: Standby,
) -> None:
    """A report of a view the standby does not hold yet is refused with what to do, and
    nothing is created anywhere to answer it."""
    primary = create_schema(require_postgres())
    try:
        here = Replicated(primary, standby)
        here.replayed()
        result = run("report", "credits", "--period", "2025-03", "--json", env=here.env)
        assert result.code == 1, result.err
        assert result.error["code"] == "read_model_missing"
        assert "ledger projections run" in result.error["message"]
    finally:
        drop_schema(primary)


def sign_in(client: TestClient, token: str, page: str) -> None:
    """A browser session of `token` on the pages."""
    signed_in = client.post(
        "/signin", data={"token": token, "next": page},
        headers={"Origin": "http://testserver"}, follow_redirects=False,
    )  # fmt: skip
    assert signed_in.status_code == 303, signed_in.text


def expiring_cell(page: str, month: str) -> str:
    """The points-expiring chart's figure for `month` on /finance."""
    table = page.split('id="points-expiring"', 1)[1]
    return table.split(f"<th scope='row'>{month}</th><td class='num'>", 1)[1].split("<", 1)[0]


def read_one_contract_and_ticket(client: TestClient, auth: dict[str, str], contract: str) -> Any:
    """A contract's and a ticket's pages and API reads, and /finance, as the auditor."""
    api = {
        "contract": client.get(f"/api/v1/contracts/{contract}", headers=auth),
        "contract_history": client.get(f"/api/v1/contracts/{contract}/history", headers=auth),
        "balance": client.get(f"/api/v1/contracts/{contract}/credits", headers=auth),
        "ticket": client.get("/api/v1/tickets/P-1", headers=auth),
        "ticket_history": client.get("/api/v1/tickets/P-1/history", headers=auth),
        "account_events": client.get(
            f"/api/v1/events/{contract}", params={"account": "true"}, headers=auth
        ),
    }
    pages = {
        "contract": client.get(f"/contracts/{contract}"),
        "ticket": client.get("/tickets/P-1"),
        "finance": client.get("/finance", params={"period": "2025-03"}),
        "statement": client.get(f"/finance/statements/{contract}", params={"period": "2025-03"}),
        "wall": client.get("/ops/wall"),
    }
    for name, answer in [*api.items(), *pages.items()]:
        assert answer.status_code == 200, (name, answer.text)
    downloads = [pages["statement"], client.get("/finance/revenue.csv", params={"term": 1})]
    for download in downloads:
        assert download.status_code == 200, download.text
        assert download.headers["x-ledger-read-from"] == "replica"
    api["revenue.csv"] = downloads[1]
    return api, {name: page.text for name, page in pages.items()}


def test_a_contract_and_a_ticket_and_the_points_expiring_are_read_on_the_standby(
    replicated: Replicated,
) -> None:
    """A response and a package bought on the primary reach a contract's and a ticket's pages
    and API reads and the points-expiring chart only once the standby has replayed them; until
    then each says it read the standby and how far behind the primary it is, and a contract
    signed meanwhile is not found, saying so; nothing is written there."""
    app, world = replicated.app, replicated.world
    premium = str(world.premium)
    now = datetime.now(UTC)
    month = (now.replace(day=1) + timedelta(days=62)).replace(day=15)
    logged = len(replicated.standby.log_text())
    settings = Settings.from_env(replicated.env)
    with TestClient(create_app(settings)) as client:
        token = issue_tokens(replicated.primary)["auditor"]
        auth = {"Authorization": f"Bearer {token}"}
        sign_in(client, token, "/finance")
        with replay_paused(replicated.standby):
            before = replicated.head(replicated.reads)
            app.record_first_response("P-1", at=at(3, 3, 10))
            app.purchase_credits(
                world.premium, points=Decimal(40), price=Decimal(4000), key="PK-1",
                at=at(3, 5), expires_at=month,
            )  # fmt: skip
            echo = str(app.sign_contract(
                customer="Echo Customer", tier="basic", licenses=1, license_kind="commercial",
                list_price=Decimal(1000), start=date(2025, 2, 1), at=at(1, 20),
            ))  # fmt: skip
            run_projections(replicated.primary, app, list(PROJECTIONS.values()), once=True)
            head = replicated.head(replicated.primary)
            assert head > before == replicated.head(replicated.reads)
            api, pages = read_one_contract_and_ticket(client, auth, premium)
            not_yet = [
                client.get(f"/api/v1/contracts/{echo}", headers=auth),
                client.get("/api/v1/contracts/Echo Customer/credits", headers=auth),
                client.get(f"/contracts/{echo}"),
                client.get(
                    "/api/v1/reports/credits",
                    headers=auth,
                    params={"period": "2025-03", "contract": "Echo Customer"},
                ),
            ]
        for name, answer in api.items():
            assert answer.headers["x-ledger-read-from"] == "replica"
            assert int(answer.headers["x-ledger-head"]) == head
            position = int(answer.headers["x-ledger-position"])  # the log's, or a view's
            assert position == before if name != "revenue.csv" else position <= before
            assert int(answer.headers["x-ledger-behind"]) == head - position
        assert api["contract"].json()["open_clocks"] == 1  # P-1 unanswered, as the standby has it
        assert api["ticket"].json()["responded_at"] is None
        assert "40" not in {lot["amount"] for lot in api["balance"].json()["lots"]}
        account_events = len(api["account_events"].json())
        behind = f"read on the standby, {head - before} behind the primary"
        for name in ("contract", "ticket", "finance"):
            assert behind in pages[name], name
        assert f"log position {before} of {head}, {behind}" in pages["contract"]
        assert "none yet" in pages["ticket"]
        assert expiring_cell(pages["finance"], f"{month:%Y-%m}") == "0"
        for answer in not_yet:
            assert answer.status_code == 404, answer.text
            said = f"read on the standby, {head - before} event(s) behind the primary"
            assert said in answer.text, answer.text[-700:]

        replicated.replayed()
        api, pages = read_one_contract_and_ticket(client, auth, premium)
        echoed = client.get(f"/api/v1/contracts/{echo}", headers=auth)
    for answer in api.values():
        assert (answer.headers["x-ledger-read-from"], answer.headers["x-ledger-behind"]) == (
            "replica", "0",
        )  # fmt: skip
    assert api["contract"].json()["open_clocks"] == 0
    assert api["ticket"].json()["responded_at"] == "2025-03-03T09:00:00Z"
    assert "40" in {lot["amount"] for lot in api["balance"].json()["lots"]}
    assert echoed.json()["customer"] == "Echo Customer"
    assert len(api["account_events"].json()) == account_events + 1  # the purchase
    assert api["ticket_history"].json()[-1]["event"]["type"] == "Ticket.FirstResponseRecorded"
    for name in ("contract", "ticket", "finance"):
        assert "read on the standby, 0 behind the primary" in pages[name], name
    assert expiring_cell(pages["finance"], f"{month:%Y-%m}") == "40"
    assert "read-only transaction" not in replicated.standby.log_text()[logged:]
