"""Page ids the sidecar issues and can verify, and the key that makes assignment unguessable.

Every answer's ``request_id`` is minted here: ``<page>.<signature>``, where ``page`` is 16 random
hex digits and the signature an HMAC-SHA256 (truncated to 128 bits) over the page and the
client id the page was served to, keyed by SIDECAR_SECRET. An event names its page by that id
(``query_id``) and its client (``client_id``): any replica, and the report, checks that the
sidecar issued that id to that client without a lookup (``verify``). A client's own
``X-Request-Id`` is echoed as ``client_request_id``, never used as a page's identity.

Guarantees: without the key, a valid id for a given client cannot be made (HMAC); an id issued to
one client does not verify for another. Not guaranteed: that the page was logged (the decision
log may sample or drop), nor anything about what a client that holds real pages of its own does
with them (it may click its own pages as it likes: docs/experiments.md says what that allows).

The same key keys the assignment hash (``assign``), so a client cannot compute from an
experiment's name which ids land in which arm. An empty setting is replaced by a random key for
one server run (``sidecar serve`` makes it once and hands it to every worker): ids and
assignment then hold while that server runs, and a report made elsewhere cannot verify them.
"""
from __future__ import annotations

import hashlib
import hmac
import os

SEPARATOR = "."
PAGE_HEX = 16
SIGNATURE_HEX = 32
MIN_SECRET = 32  # characters of SIDECAR_SECRET


def random_secret() -> str:
    """A fresh key (64 hex digits) for a server run without SIDECAR_SECRET."""
    return os.urandom(32).hex()


def shaped(query_id: object) -> bool:
    """Whether ``query_id`` has the shape of the ids ``mint`` makes (no key needed to tell)."""
    return isinstance(query_id, str) and len(query_id) == PAGE_HEX + 1 + SIGNATURE_HEX and \
        query_id[PAGE_HEX] == SEPARATOR


class PageSigner:
    """Mints and verifies page ids under one key."""

    def __init__(self, secret: str):
        if len(secret) < MIN_SECRET:
            raise ValueError(f"SIDECAR_SECRET: at least {MIN_SECRET} characters")
        self.key = secret.encode("utf-8")

    def _signature(self, page: str, client: str) -> str:
        mac = hmac.new(self.key, f"{page}\x00{client}".encode("utf-8", "surrogatepass"), hashlib.sha256)
        return mac.hexdigest()[:SIGNATURE_HEX]

    def mint(self, client: str | None) -> str:
        """A new page id issued to ``client`` (None or "": an anonymous page)."""
        page = os.urandom(PAGE_HEX // 2).hex()
        return f"{page}{SEPARATOR}{self._signature(page, client or '')}"

    def verify(self, query_id: str | None, client: str | None) -> bool:
        """Whether ``query_id`` is a page id this key issued to ``client``."""
        if not shaped(query_id):
            return False
        page, _, signature = query_id.partition(SEPARATOR)
        return hmac.compare_digest(signature, self._signature(page, client or ""))
