"""`l1ml emulate` (placeholder until its issue lands)."""


def emulate() -> None:
    """Not built yet."""
    from l1ml.errors import L1mlError

    raise L1mlError("`l1ml emulate` is not built yet")
