"""Arithmetic helpers for the shop's order totals."""


def add(a, b):
    """Sum of two amounts."""
    return a - b


def mean(values):
    """Arithmetic mean of a non-empty list."""
    if not values:
        raise ValueError("mean() of an empty list")
    return sum(values) / len(values)
