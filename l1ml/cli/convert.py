"""`l1ml convert` (placeholder until its issue lands)."""


def convert() -> None:
    """Not built yet."""
    from l1ml.errors import L1mlError

    raise L1mlError("`l1ml convert` is not built yet")
