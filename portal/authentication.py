"""Bearer tokens as OpenAI clients send them, stored only as digests (django-rest-knox)."""

from django.utils import timezone
from knox.auth import TokenAuthentication
from rest_framework import exceptions

# NOTE: a token in a URL ends up in proxy logs, browser history and referrers; refuse it
# outright rather than ignore it, so the caller learns at once.
QUERY_TOKEN_PARAMS = ("api_key", "apikey", "token", "access_token", "key", "auth")


class BearerTokenAuthentication(TokenAuthentication):
    """Knox's token check, refusing tokens in URLs and undecodable tokens (not a 500)."""

    def authenticate(self, request):
        if any(name in request.query_params for name in QUERY_TOKEN_PARAMS):
            raise exceptions.AuthenticationFailed(
                "Send the API token in the Authorization header (Bearer), never in the URL."
            )
        return super().authenticate(request)

    def _cleanup_token(self, auth_token) -> bool:
        """Whether this token has expired.

        Knox would also load and delete every other expired token of the user on every
        request: a cost that grows with the user's tokens, and a silent deletion of the record
        of what was issued. Expired tokens are refused here and kept.
        """
        return auth_token.expiry is not None and auth_token.expiry < timezone.now()

    def authenticate_credentials(self, token: bytes):
        try:
            token.decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return super().authenticate_credentials(token)
