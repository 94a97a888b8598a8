"""Bearer tokens as OpenAI clients send them, stored only as digests (django-rest-knox)."""

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

    def authenticate_credentials(self, token: bytes):
        try:
            token.decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        return super().authenticate_credentials(token)
