"""What looks like a Stripe secret, masked wherever the provider shows text it did not write itself.

A key pasted by mistake (into a recipe, a connection's URL) must not reach an error message, the
DAG processor's import errors or a DAG's docs. Publishable keys (``pk_…``) are public and kept.
"""

from __future__ import annotations

import re

# Stripe's secret and restricted API keys and webhook signing secrets; a publishable key (pk_) is public.
_STRIPE_SECRET = re.compile(r"(?<![A-Za-z0-9])((?:sk|rk)_(?:live|test)_|whsec_)[A-Za-z0-9_]+")
# The user and password of a URL (https://user:secret@host/…).
_URL_CREDENTIALS = re.compile(r"(?<=://)[^/@\s]+@")


def holds_secret(text: str) -> bool:
    """Whether ``text`` holds what looks like a Stripe secret key."""
    return bool(_STRIPE_SECRET.search(text))


def mask_secrets(text: str) -> str:
    """``text`` with what looks like a Stripe secret masked (``sk_live_51H…`` -> ``sk_live_***``), and URL credentials."""
    return _URL_CREDENTIALS.sub("***@", _STRIPE_SECRET.sub(r"\1***", text))
