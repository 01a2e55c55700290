"""Flat, named exceptions (one per failure a caller may want to tell apart)."""


class WuyeError(Exception):
    """Base of every wuye exception."""


class ConfigError(WuyeError):
    """A config or rules value is refused; the message names the key."""


class RulesError(ConfigError):
    """A classifier rule file is refused; the message names the key."""


class BadSignature(WuyeError):
    """The request's WeChat or bridge signature does not verify."""


class StaleRequest(WuyeError):
    """The request's timestamp is outside the allowed clock skew."""


class MalformedMessage(WuyeError):
    """The body is not a well-formed message of a shape we accept."""


class NotFound(WuyeError):
    """A ticket or resident asked for does not exist."""


class NotAllowed(WuyeError):
    """The actor may not make this change."""
