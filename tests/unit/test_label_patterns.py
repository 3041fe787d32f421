"""Labels kept in clear hold a few words, never a sentence (issue #14)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engagement_tracker.domain.checks import require_label
from engagement_tracker.domain.errors import InvalidInput

SENTENCES = [
    "Marc Petit is struggling with his manager",
    "the coachee feels burnt out",
    "Julie said she wants to leave",
    "Operations/Lyon where Marc Petit is struggling",
    "Ops. He cried in the session.",
]


@pytest.mark.parametrize("field", ["org_unit", "unit"])
@pytest.mark.parametrize("text", SENTENCES)
def test_a_sentence_is_not_a_label(field: str, text: str) -> None:
    with pytest.raises(InvalidInput, match=r"no sentence|at most three words"):
        require_label(text, field)


@pytest.mark.parametrize("text", ["Operations", "Operations/Lyon", "Customer Service", "Digital Factory",
                                  "R & D/Paris", "Finance/Group Tax/Paris", "A", "Ops/x-1/y_2/z.3"])
def test_org_units_still_pass(text: str) -> None:
    assert require_label(text, "org_unit") == text


@pytest.mark.parametrize("text", ["hours", "%", "tickets/week", "per month", "tickets per week", "€", "audits"])
def test_units_of_measure_still_pass(text: str) -> None:
    assert require_label(text, "unit") == text


@given(st.lists(st.from_regex(r"[a-z]{1,8}", fullmatch=True), min_size=4, max_size=12))
def test_four_words_or_more_in_one_level_are_refused(words: list[str]) -> None:
    for field in ("org_unit", "unit"):
        with pytest.raises(InvalidInput):
            require_label(" ".join(words), field)


#: Words of letters from several alphabets, accents included (the seeds are French: 'Opérations/Zürich').
ACCENTED_WORDS = st.text(alphabet=st.sampled_from("abcéèêëàâîïôöûüùçñßøåæœÉÈÎÖÜÇŁłżšžąęğışαβγдж"),
                         min_size=1, max_size=10)


@given(st.lists(st.lists(ACCENTED_WORDS, min_size=1, max_size=3), min_size=1, max_size=4))
def test_an_org_unit_of_any_alphabet_passes_in_either_unicode_form(levels: list[list[str]]) -> None:
    import unicodedata

    text = "/".join(" ".join(words) for words in levels)
    if len(unicodedata.normalize("NFC", text)) > 80:
        return  # the length limit, tested elsewhere
    nfc = unicodedata.normalize("NFC", text)
    assert require_label(text, "org_unit") == nfc
    assert require_label(unicodedata.normalize("NFD", text), "org_unit") == nfc  # one label, however typed


@given(ACCENTED_WORDS, st.sampled_from(["!", "?", ",", ";", "("]))
def test_punctuation_of_a_sentence_is_still_refused_beside_accented_letters(word: str, mark: str) -> None:
    with pytest.raises(InvalidInput):
        require_label(f"{word}{mark}", "org_unit")
