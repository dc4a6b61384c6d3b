"""Phone numbers and emails are recognised in what people really write; other numbers are not."""

import pytest

from marketplace.chat.masking import mask_contacts


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("call me on +49 30 1234567", "call me on [phone hidden]"),
        ("0176-12345678 after six", "[phone hidden] after six"),
        ("(030) 123 45 67", "[phone hidden]"),
        ("0049 30 1234567.", "[phone hidden]."),
        ("+491761234567", "[phone hidden]"),
        ("write to jo.doe+parcel@mail.example.co.uk!", "write to [email hidden]!"),
        ("a@b.de or 030/1234567", "[email hidden] or [phone hidden]"),
    ],
)
def test_contacts_are_masked(text, masked):
    assert mask_contacts(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "the pickup code is 123456",
        "on 12.05.2025 between 9.00-12.00",
        "Kaiserdamm 2, 14057 Berlin",
        "it costs 12.50 EUR, 3 boxes",
        "see you at 14:30",
        "user at example dot com",
        "",
    ],
)
def test_other_numbers_and_text_stay(text):
    assert mask_contacts(text) == text
