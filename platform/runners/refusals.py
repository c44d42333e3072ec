"""The one error a runner's request ends with when it is refused."""


class RunnerRefused(Exception):
    """A request refused; the message names what was wrong, `status` answers it."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
