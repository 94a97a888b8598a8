"""Bearer tokens as OpenAI clients send them, stored only as digests (django-rest-knox)."""

from knox.auth import TokenAuthentication
from rest_framework import exceptions


class BearerTokenAuthentication(TokenAuthentication):
    """Knox's token check, refusing undecodable tokens instead of failing with a 500."""

    def authenticate_credentials(self, token: bytes):
        try:
            token.decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return super().authenticate_credentials(token)
