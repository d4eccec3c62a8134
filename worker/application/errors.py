"""Failures of the application that are not the domain's rules."""


class TransientError(Exception):
    """Worth trying again later: a database or broker hiccup, a lost race."""


class ConcurrencyError(TransientError):
    """Somebody else changed the aggregate first."""


class DatabaseUnavailableError(TransientError):
    """The database does not answer: wait for it rather than burn retries."""
