"""The exception tree: core code raises these, the edges translate them.

    SilkError                 anything silkctl reports to a user
    ├── ConfigError           a config file, option or env var is wrong
    ├── BadRequest            an API request is malformed (HTTP 400)
    ├── NotFound              the thing asked for does not exist (HTTP 404)
    ├── Conflict              a state conflict, e.g. no lease available (HTTP 409)
    ├── NonRetriable          retrying cannot help, e.g. lease mismatch (HTTP 409)
    ├── Unavailable           a dependency is down; retrying may help (HTTP 503)
    │   └── DatabaseError     the database failed or went away
    ├── ControllerError       the controller answered an error or not at all
    └── KernelError           a netlink or namespace operation failed

The CLI prints `error: <message>` and exits with `exit_code`; the Bottle apps
answer `http_status` with `{"error": <message>}`; the CNI entry point turns
them into the spec's error JSON.
"""


class SilkError(Exception):
    """Base class: an error whose message is meant for the user."""

    exit_code = 1
    http_status = 500


class ConfigError(SilkError):
    """A config value is missing or invalid; the message names the key."""

    exit_code = 2
    http_status = 400


class BadRequest(SilkError):
    """An API request body or parameter is malformed; nothing was changed."""

    http_status = 400


class NotFound(SilkError):
    """The lease, host or container asked for does not exist."""

    http_status = 404


class Conflict(SilkError):
    """The request conflicts with current state, e.g. the pool is exhausted."""

    http_status = 409


class NonRetriable(Conflict):
    """The request can never succeed as sent, e.g. a lease mismatch on renew."""


class Unavailable(SilkError):
    """A dependency is temporarily unavailable; a retry may succeed."""

    http_status = 503


class DatabaseError(Unavailable):
    """The database failed or is unreachable."""

    http_status = 500


class ControllerError(SilkError):
    """The controller could not be reached or answered with an error.

    `status` is the HTTP status, or None when no answer came back.
    """

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status

    @property
    def retriable(self) -> bool:
        return self.status != 409 and not (self.status and 400 <= self.status < 500)


class KernelError(SilkError):
    """A netlink, sysctl or namespace operation failed."""
