"""Canonical JSON: one text for one value, keys sorted, no spaces, text as it is (not escaped
to ASCII), so that two equal values are equal strings. What a catalog entry is compared and
hashed by, what a signed receipt signs, and what the HTTP layer hashes a request body as.

One encoder for the process: `json.dumps` with options builds a new one on every call. A
transfer's metadata column has its own (ASCII) form, which its hash covers
(`transfers.metadata_json`).
"""

from __future__ import annotations

import json

canonical_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False).encode
