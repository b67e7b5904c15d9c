"""Is this text English enough to classify?

The models are trained on English. A message in Welsh or another language, or with no
words at all, gets ``enquiry`` with low confidence and goes to a person, rather than a
guess (the NLP issue, bad input). A function-word share is crude but fast, needs no
model, and is right for the cases that matter: prose in another language.
"""

from __future__ import annotations

import re
from operator import itemgetter

_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_ENGLISH = frozenset(
    "the a an and or but of to in on at for with from by about as is are was were be been "
    "being have has had do does did not no i we you he she it they my our your his her "
    "their this that these those which who what when where why how there here would could "
    "should will can may must please dear regards sincerely thank thanks yours me us them "
    "if so than then also very all any some more most into after before because".split()
)
# Function words of the other languages complainants in England most often write in.
_FOREIGN = frozenset(
    "yr yn mae wedi ac ein eich gyda iawn roedd nid ddim hefyd ond fy ei gan rwy dwi "
    "le la les des et est une un pour dans que qui pas ne je nous vous avec sur "
    "der die das und ist nicht ich wir sie mit von zu ein eine "
    "el los las es por para con una del lo se "
    "nie jest się na że jak ale do od w z i za po o mój moja moje jestem był była "
    "este sunt și cu pe din".split()
)
_LATIN = re.compile(r"[A-Za-z\u00C0-\u024F]")
# _LATIN's characters as a set: a word is Latin by its first character, and a set lookup
# per word is far cheaper than a pattern call per word.
_LATIN_FIRST = frozenset(c for c in map(chr, range(0x250)) if _LATIN.match(c))
_MIN_WORDS = 4


def _lowered(words: list[str]) -> list[str]:
    """``[w.lower() for w in words]`` in one call: a line break between words stops case
    context (a final sigma) exactly as a word's own ends do, and no word holds one."""
    return "\n".join(words).lower().split("\n")


def language_shares(text: str, limit: int = 2000) -> tuple[float, float, int]:
    """Shares of English and of other languages' function words, and the word count."""
    found = _WORD.findall(text[:limit])
    if not found:
        return 0.0, 0.0, 0
    words = _lowered(found)
    english = sum(map(_ENGLISH.__contains__, words)) / len(words)
    foreign = sum(map(_FOREIGN.__contains__, words)) / len(words)
    latin = sum(map(_LATIN_FIRST.__contains__, map(itemgetter(0), words))) / len(words)
    if latin < 0.5:
        foreign = max(foreign, 1.0 - latin)  # another script: Arabic, Cyrillic, ...
    return english, foreign, len(words)


def is_english(text: str) -> bool:
    """False for text with no words, and for prose mostly in another language."""
    english, foreign, count = language_shares(text)
    if count == 0:
        return False
    if count < _MIN_WORDS:
        return foreign < 0.5
    return not (foreign >= 0.1 and foreign > english)
