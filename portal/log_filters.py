"""Log records keep where a failure happened but never an exception's message.

Exception messages can quote input (a tokenizer error, a decoder error), and no prompt, image,
audio or output may ever reach a log.
"""

import logging
import traceback


class WithholdExceptionMessages(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None:
            exc_type, _, tb = record.exc_info
            frames = "".join(traceback.format_tb(tb))
            record.exc_text = f"Traceback (message withheld):\n{frames}{exc_type.__name__}"
        return True
