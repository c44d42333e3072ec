"""The one rule for participant source text: drafts, checks and uploads alike.

Tab, newline, carriage return and form feed are the only control characters
source holds (Python's tokenizer takes form feed as whitespace). Any other,
NUL and the vertical tab included, is binary data pasted or saved by mistake;
so is a lone surrogate, which no UTF-8 file can carry. The same text is
refused the same way wherever a participant sends it, with the same words.
"""

import re

from django.core.exceptions import ValidationError

NOT_TEXT = re.compile("[\x00-\x08\x0b\x0e-\x1f\ud800-\udfff]")


def source_text_check(*, text: str) -> None:
    """Refuse source holding a character that is not text, saying where it is."""
    found = NOT_TEXT.search(text)
    if found is None:
        return
    line = text.count("\n", 0, found.start()) + 1
    raise ValidationError(
        f"Your code contains the character U+{ord(found.group()):04X} on line "
        f"{line}, which is not text (binary data or a broken paste), so nothing "
        "was kept. Remove it, or paste or save your code again as plain UTF-8 "
        "text, and try again.",
        code="not_text",
    )
