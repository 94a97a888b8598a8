import pytest

from portal.errors import ApiError
from portal.parsers import MAX_DEPTH, strict_json_loads


def code_of(raw: bytes) -> str:
    with pytest.raises(ApiError) as raised:
        strict_json_loads(raw)
    return raised.value.code


def test_accepts_ordinary_json():
    assert strict_json_loads('{"a": [1, 2.5, "é", null, true]}'.encode()) == {
        "a": [1, 2.5, "é", None, True]
    }


def test_refuses_invalid_utf8():
    assert code_of(b'{"a": "\xc3\x28"}') == "invalid_text"


def test_refuses_duplicate_keys():
    assert code_of(b'{"a": 1, "a": 2}') == "invalid_request"


def test_refuses_lone_surrogate_in_values_and_keys():
    assert code_of(b'{"a": "\\udc00"}') == "invalid_text"
    assert code_of(b'{"\\ud800": 1}') == "invalid_text"


def test_accepts_surrogate_pairs():
    assert strict_json_loads(b'{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_refuses_non_finite_constants(constant):
    assert code_of(b'{"a": ' + constant + b"}") == "invalid_request"


def test_depth_limit_is_exact():
    at_limit = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert strict_json_loads(at_limit) is not None
    assert code_of(b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)) == "invalid_request"


def test_refuses_recursion_bombs_without_crashing():
    assert code_of(b"[" * 100_000 + b"]" * 100_000) == "invalid_request"


def test_syntax_error_message_does_not_quote_the_body():
    with pytest.raises(ApiError) as raised:
        strict_json_loads(b'{"secret": "Jane Roe" oops}')
    assert "Jane" not in raised.value.message
