import io
import logging

from portal.log_filters import WithholdExceptionMessages


def test_exception_message_is_withheld_but_the_place_is_kept():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(WithholdExceptionMessages())
    logger = logging.getLogger("test.withhold")
    logger.addHandler(handler)
    secret = "prompt: Jane Roe is HIV positive"
    try:
        raise ValueError(secret)
    except ValueError:
        logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "Jane" not in text
    assert "ValueError" in text and "test_log_filters.py" in text
