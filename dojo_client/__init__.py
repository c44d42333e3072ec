"""Dojo's command-line client: submit training code and follow it until graded.

Standard library only, so it runs in any participant's Python 3.11+.
"""

from dojo_client._api import ApiClient, ClientError
from dojo_client._cli import main

__all__ = ["ApiClient", "ClientError", "main"]
