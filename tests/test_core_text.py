"""Unit tests for adaptor_core.text: well-formed Unicode and byte-bounded cuts."""
import pytest

from adaptor_core.text import cut_utf8, is_well_formed, well_formed


@pytest.mark.parametrize("text, ok", [("plain", True), ("Zoë ☎ 😀", True), ("\ud83d broken", False),
                                      ("end \udc00", False), ("\ud83d\ude00", False), ("", True), ("\x00", True)])
def test_is_well_formed(text, ok):
    assert is_well_formed(text) is ok


@pytest.mark.parametrize("text, expected", [
    ("plain", "plain"), ("\ud83d broken", "\ufffd broken"), ("a\udc00b", "a\ufffdb"),
    ("\ud83d\ude00", "😀"),  # a surrogate pair spelled as two code points is the character it encodes
    ("😀", "😀"),
])
def test_well_formed(text, expected):
    assert well_formed(text) == expected


def test_cut_utf8_never_splits_a_character():
    assert cut_utf8("ab€", 4) == "ab"  # € is 3 bytes
    assert cut_utf8("ab€", 5) == "ab€"
    assert cut_utf8("\ud83dx", 3) == "\ufffd"
