"""Token authentication whose tokens expire."""

from django.contrib.auth.models import AbstractUser
from django.utils import formats
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from accounts.selectors import api_token_expired, api_token_expires_at


class ExpiringTokenAuthentication(TokenAuthentication):
    """DRF's token authentication, refusing tokens past DOJO_API_TOKEN_DAYS."""

    def authenticate_credentials(self, key: str) -> tuple[AbstractUser, Token]:
        """Return the token's user, unless the token has expired."""
        user, token = super().authenticate_credentials(key)
        if api_token_expired(token=token):
            expired_on = formats.date_format(api_token_expires_at(token=token))
            raise AuthenticationFailed(
                f"This API token expired on {expired_on}. Log in again "
                "(`python -m dojo_client login` or POST /api/token/) for a new one."
            )
        return user, token
