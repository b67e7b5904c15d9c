"""The cheaper extractors give exactly the answers of the plain versions they replace.

Each plain version is kept here as the reference and run on every labelled message (and
on texts written to sit on the edges: matches across sentence breaks, Greek capitals,
letters that lower-case to two characters).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]

import pytest

from nlp import dates, extract, intent_rules, language
from nlp.text import lower

DATA = Path(__file__).resolve().parents[2] / "nlp" / "data"
EDGES = [
    "", "   ", "I would\nlike a review. I want\nit. Please review it!",
    "I am available on Monday.I am available\non Tuesday", "ΣΑΣ I want ΟΔΟΣ. İ want İt.",
    "We have\n\n\nspoken to the inspector. We have spoken to them. We rang them.",
    "x" * 500 + " I would like " + "y. " * 200 + "I want the report withdrawn.",
    "Published 2025-02-14, received yesterday; the draft came this morning.",
    "On Monday the report was published on 3 and 4 March 2025 - ΣΑΣ Ωμέγα ΣΣ.",
    "the 3rd of\nMarch, 2025; March 3rd, 2025; Sept. 9; 14.02.25; 1/1/99; 10-14 June",
    "last  Friday, received Sunday, published\tsaturday, on wednesday, 2024-13-40",
]


def texts() -> list[str]:
    found = list(EDGES)
    for path in sorted(DATA.glob("*.jsonl")) + sorted(DATA.glob("blind*/*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                found.append(f"{record.get('subject') or ''}\n\n{record.get('text') or ''}")
    return found


TEXTS = texts()


def plain_sentences_matching(text: str, pattern: re.Pattern[str], limit: int = 2) -> str | None:
    if not pattern.search(lower(text)):
        return None
    found = [s.strip() for s in extract._SENTENCE_BREAK.split(text)
             if s and pattern.search(lower(s))]
    if not found:
        return None
    joined = " ".join(found[:limit])
    return joined if len(joined) <= 400 else joined[:397].rstrip() + "..."


def plain_language_shares(text: str, limit: int = 2000) -> tuple[float, float, int]:
    words = [w.lower() for w in language._WORD.findall(text[:limit])]
    if not words:
        return 0.0, 0.0, 0
    english = sum(w in language._ENGLISH for w in words) / len(words)
    foreign = sum(w in language._FOREIGN for w in words) / len(words)
    latin = sum(bool(language._LATIN.match(w)) for w in words) / len(words)
    if latin < 0.5:
        foreign = max(foreign, 1.0 - latin)
    return english, foreign, len(words)


SENTENCE_PATTERNS = [(extract._OUTCOME, 2), (extract._ACTIONS, 2), (extract._AVAILABILITY, 1)]


def test_the_corpus_is_the_labelled_data() -> None:
    assert len(TEXTS) > 2000


@pytest.mark.parametrize(("pattern", "limit"), SENTENCE_PATTERNS)
def test_sentences_matching_is_the_plain_split_and_search(pattern: re.Pattern[str],
                                                          limit: int) -> None:
    differ = [text for text in TEXTS
              if extract._sentences_matching(text, pattern, limit)
              != plain_sentences_matching(text, pattern, limit)]
    assert not differ


@pytest.mark.parametrize(("pattern", "limit"), SENTENCE_PATTERNS)
def test_sentence_patterns_read_only_their_own_characters(pattern: re.Pattern[str],
                                                          limit: int) -> None:
    """What lets a sentence be skipped: no anchors and no look-arounds, only \\b."""
    allowed_at = {sre_constants.AT_BOUNDARY, sre_constants.AT_NON_BOUNDARY}

    def walk(items: object) -> None:
        for op, av in items:  # type: ignore[attr-defined]
            assert op not in (sre_constants.ASSERT, sre_constants.ASSERT_NOT,
                              sre_constants.GROUPREF)
            assert op is not sre_constants.AT or av in allowed_at
            for sub in av if isinstance(av, (list, tuple)) else ():
                if isinstance(sub, sre_parse.SubPattern):
                    walk(sub)
                elif isinstance(sub, (list, tuple)):
                    for inner in sub:
                        if isinstance(inner, sre_parse.SubPattern):
                            walk(inner)

    walk(sre_parse.parse(pattern.pattern, pattern.flags))


def test_sentence_spans_are_the_pieces_of_the_split() -> None:
    for text in TEXTS:
        pieces = [text[a:b] for a, b in extract.sentence_spans(text)]
        assert pieces == [s for s in extract._SENTENCE_BREAK.split(text) if s]


def test_language_shares_are_the_plain_counts() -> None:
    greek = ["ΟΔΟΣ ΣΑΣ Σ", "ΑΣ'Β ΑΣ", "İstanbul İİ ǅemal ß"]
    differ = [text for text in TEXTS + greek
              if language.language_shares(text) != plain_language_shares(text)]
    assert not differ


@pytest.mark.parametrize("pattern", [*dates._PATTERNS, dates._RELATIVE])
def test_date_patterns_skipped_only_where_they_cannot_match(pattern: re.Pattern[str]) -> None:
    matched = 0
    for text in TEXTS:
        low = lower(text)
        if not dates._may_match(pattern, low):
            assert pattern.search(low) is None
        matched += pattern.search(low) is not None
    assert matched  # the corpus has dates of this form, and the test sees them through


def plain_rule_intent(text: str) -> tuple[str | None, str | None]:
    rules = intent_rules
    head = lower(text[:4000])
    if rules.HOW_TO.search(head) and not rules.WITHHOLD.search(head):
        return "enquiry", "rules.how_to_complain"
    if rules.WITHHOLD.search(head):
        return "withhold_publication", "rules.withhold"
    if rules.ESCALATION.search(head):
        if rules.FOI.search(head):
            return "information_request", "rules.information_request"
        return "escalation", "rules.escalation"
    if rules.INFORMATION.search(head):
        return "information_request", "rules.information_request"
    if rules.COMPLAINT.search(head) and rules.INSPECTION_WORDS.search(head):
        return "complaint", "rules.complaint"
    return None, None


def test_rule_intent_is_the_ranked_search() -> None:
    how_to_and_withhold = "How do I complain? Please withhold the report until then."
    for text in [*TEXTS, how_to_and_withhold]:
        assert intent_rules.rule_intent(text) == plain_rule_intent(text)
    assert intent_rules.rule_intent(how_to_and_withhold)[0] == "withhold_publication"


def test_urn_and_role_searches_skipped_only_where_they_cannot_match() -> None:
    urn_patterns = [extract._URN_LABELLED, extract._URN_PREFIXED, extract._URN_BRACKETED,
                    extract._URN_AFTER_NAME]
    (role_pattern,) = [p for role, p in extract._ROLE_PATTERNS if role in extract._ROLE_NEEDS]
    needs = extract._ROLE_NEEDS["local_authority"]
    seen = [0, 0]
    for text in [*TEXTS, "Director of Children's Services; on behalf of the\nlocal authority"]:
        low = lower(text)
        urns = any(p.search(low) for p in urn_patterns)
        assert urns <= bool(extract._SIX_DIGITS.search(low))
        role = role_pattern.search(low) is not None
        assert role <= any(word in low for word in needs)
        seen[0] += urns
        seen[1] += role
    assert all(seen)

