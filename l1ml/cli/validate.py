"""`l1ml validate` (placeholder until its issue lands)."""


def validate() -> None:
    """Not built yet."""
    from l1ml.errors import L1mlError

    raise L1mlError("`l1ml validate` is not built yet")
