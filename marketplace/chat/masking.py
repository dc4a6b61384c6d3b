"""Contact details in chat messages are hidden unless the shipper chose to share them.

Masking happens when a message is shown (WebSocket frame, REST history, web page, notification),
not when it is stored: the shipper's choice then applies to the whole conversation, both ways, and
staff looking into a dispute read what was really written (admin site).

A phone number is a run of at least 7 digits, optionally led by "+" or "(", with up to three
separator characters (space, "-", ".", "/", parentheses) between digits. Dates ("12.05.2025") and
time ranges ("9.00-12.00") look the same but are left alone. The 6-digit pickup and delivery codes
are too short to be masked.
"""

from __future__ import annotations

import re

EMAIL_HIDDEN = "[email hidden]"
PHONE_HIDDEN = "[phone hidden]"
MIN_PHONE_DIGITS = 7

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
PHONE = re.compile(r"(?<![\w+])(?:\+\s?|\(\s?)?\d(?:[ \t\-./()]{0,3}\d){6,}(?!\w)")
NOT_A_PHONE = (
    re.compile(r"\d{1,4}([./-])\d{1,2}\1\d{2,4}"),  # 12.05.2025, 2025-05-12
    re.compile(r"\d{1,2}[.:]\d{2}\s?-\s?\d{1,2}[.:]\d{2}"),  # 9.00-12.00
)


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    if sum(ch.isdigit() for ch in text) < MIN_PHONE_DIGITS:
        return text
    if any(pattern.fullmatch(text.strip()) for pattern in NOT_A_PHONE):
        return text
    return PHONE_HIDDEN


def mask_contacts(text: str) -> str:
    """`"call +49 30 1234567 or a@b.de"` -> `"call [phone hidden] or [email hidden]"`."""
    if not text:
        return text
    return PHONE.sub(_phone, EMAIL.sub(EMAIL_HIDDEN, text))
