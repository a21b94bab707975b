"""The store's exceptions; redis-py's own never leave this package."""


class StoreError(Exception):
    """Base of every error raised by `store`."""


class StoreUnavailable(StoreError):
    """Redis cannot be reached or did not answer in time."""


class NotFound(StoreError):
    """The declaration, permit or quota asked for does not exist."""
