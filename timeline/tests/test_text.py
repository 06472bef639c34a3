"""Search keys: the same key for a word however it is written (timeline.text.fold)."""

import pytest

from timeline.text import fold


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Kəlbəcər", "kelbecer"),
        ("Laçın", "lacin"),
        ("Кельбаджар", "кельбаджар"),
        ("Straße Æsir þing", "strasse aesir thing"),
        ("ﬁve ½", "five 1⁄2"),
        ("Cafe\u0301", "cafe"),
    ],
)
def test_letters_with_marks_fold_to_the_plain_letter(text, key):
    assert fold(text) == key


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("O'Brien  Street", "obrien street"),
        ("  Agdam\tDistrict\n", "agdam district"),
        ("ALL CAPS", "all caps"),
        ("", ""),
    ],
)
def test_plain_ascii_is_lowered_single_spaced_and_loses_apostrophes(text, key):
    assert fold(text) == key


def test_ascii_and_other_text_fold_alike_around_a_mark():
    """The ASCII shortcut gives what the full path gives for the same letters."""
    assert fold("O'Brien Ağdam") == " ".join([fold("O'Brien"), fold("Ağdam")]) == "obrien agdam"
