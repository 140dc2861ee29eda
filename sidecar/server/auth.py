"""The admin token: /admin/* and /inspect are behind it (``SIDECAR_ADMIN_TOKEN``)."""
from __future__ import annotations

import hmac

from flask import request

from .errors import ApiError
from .services import services


def given_token(allow_param: bool = False) -> str | None:
    """The bearer token of the request (``Authorization: Bearer``, any case), or for a page a
    browser opens, its ``token`` parameter."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    return request.values.get("token") if allow_param else None


LOOPBACK = ("127.", "::1", "::ffff:127.")


def require_admin(*, required: bool = True, allow_param: bool = False) -> None:
    """401 without the configured token. With none configured: 403 when ``required`` (the admin
    API is off); else (/inspect) open to loopback clients only, 403 for any other address."""
    token = services().config.admin_token
    if not token:
        if required:
            raise ApiError(403, "admin_disabled", "admin endpoints are disabled: set SIDECAR_ADMIN_TOKEN")
        if not (request.remote_addr or "").startswith(LOOPBACK):
            raise ApiError(403, "admin_disabled", "without SIDECAR_ADMIN_TOKEN this page answers loopback clients only")
        return
    given = given_token(allow_param)
    if given is None or not hmac.compare_digest(given.encode(), token.encode()):
        how = "an 'Authorization: Bearer <token>' header" + (" or a token parameter" if allow_param else "")
        raise ApiError(401, "unauthorized", f"{how} with the admin token is required")
