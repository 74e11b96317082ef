"""Text helpers for product pages."""

import re


def slugify(title):
    """URL-friendly form of a product title."""
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
