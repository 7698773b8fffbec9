"""The HTTP API of the ledger (FastAPI, uvicorn): every use case and report of the CLI under
/api/v1, described by the OpenAPI document at /openapi.json (browsable at /docs).

- `app`: `create_app(settings)`, the routers (`ROUTERS`), startup and shutdown.
- `auth`, `tokens`: bearer tokens with a role (agent, finance, auditor, admin), and the role
  each route allows.
- `errors`: every error as `{"error": {"code", "message", ...}}`, its status by the error's kind.
- `inputs`, `schemas`, `routing`: request values (read with the CLI's parsers), bodies and
  answers, exact decimals in and out.
- `services`: the one SupportLedger of the process and the read-model connections.
- reports bring their projection up to date first, as the CLI does (`ledger.reports`).
- `routes/`: the endpoints, one module per area.
- `commands`: `ledger serve` and `ledger tokens create|list|revoke`.
"""
