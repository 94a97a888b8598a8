from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions

from portal.errors import ERROR_CODES, ApiError, api_error_from_exception


def test_every_design_code_has_a_status_and_type():
    for code, (status, kind) in ERROR_CODES.items():
        assert 400 <= status < 600
        assert kind.endswith("_error")
        assert ApiError(code, "m").body()["error"]["code"] == code


def test_validation_error_names_the_first_bad_field():
    error = api_error_from_exception(
        exceptions.ValidationError({"messages": [{}, {"role": ["Not a valid choice."]}]})
    )
    assert error.code == "invalid_request"
    assert error.param == "messages.1.role"


def test_framework_exceptions_map_to_stable_codes():
    assert api_error_from_exception(exceptions.NotAuthenticated()).code == "authentication_required"
    assert api_error_from_exception(exceptions.PermissionDenied()).code == "permission_denied"
    assert api_error_from_exception(exceptions.NotFound()).code == "not_found"
    assert api_error_from_exception(RequestDataTooBig()).code == "payload_too_large"
    assert api_error_from_exception(exceptions.Throttled()).code == "rate_limited"
    assert api_error_from_exception(exceptions.MethodNotAllowed("GET")).status == 405


def test_unexpected_exception_hides_its_message():
    error = api_error_from_exception(ValueError("Jane Roe's diagnosis"))
    assert error.code == "internal_error" and error.status == 500
    assert "Jane" not in error.message
