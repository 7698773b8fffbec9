"""Files the server hands out as they are packaged (the pages' stylesheet and script, Swagger
UI's files): read once at import, versioned by their content, cached a day by browsers."""

from __future__ import annotations

import hashlib
from importlib.resources import files

from fastapi.responses import Response

Assets = dict[str, tuple[bytes, str, str]]  # name -> (content, media type, version)


def load(folder: str, kinds: dict[str, str]) -> Assets:
    """The files `kinds` names (with their media types) from `ledger/web/<folder>`, each with a
    version taken from its content."""
    where = files("ledger.web").joinpath(*folder.split("/"))
    found = {}
    for name, media_type in kinds.items():
        content = (where / name).read_bytes()
        found[name] = (content, media_type, hashlib.sha256(content).hexdigest()[:12])
    return found


def answer(assets: Assets, name: str) -> Response:
    """One of `assets` (cached a day, never sniffed), or 404."""
    found = assets.get(name)
    if found is None:
        return Response("not found", 404, media_type="text/plain")
    content, media_type, _ = found
    return Response(
        content,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
