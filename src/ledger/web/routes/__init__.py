"""The routers of the API, each mounted under /api/v1."""

from fastapi import APIRouter

from ledger.web.routes import access, accounts, alerts, contracts, releases, reports, terms, tickets

API_ROUTERS: tuple[APIRouter, ...] = (
    releases.router,
    contracts.router,
    tickets.router,
    accounts.router,
    reports.router,
    terms.router,
    access.router,
    alerts.router,
)
