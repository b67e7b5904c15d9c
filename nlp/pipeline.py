"""The spaCy pipeline: rule components for names and contact details, trained classifiers.

Built from ``spacy.blank("en")`` (PRODUCT.md, NLP: no third-party statistical models):

- ``entity_ruler``: inspectorates under their many spellings (INSPECTORATE, id = label),
  inspection types (INSPECTION, id = regime), services that point to a body (SERVICE),
  and email addresses (EMAIL);
- ``phone_numbers``: PHONE entities, only numbers that ``phonenumbers`` says are valid;
- ``intent`` (exclusive), ``aspects``, ``inspectorates`` (multi-label), ``regime``
  (exclusive) and ``safeguarding`` (one label): bag-of-words text classifiers, which
  are small and fast enough for thousands of messages a second on one core.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import phonenumbers
import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import filter_spans
from thinc.api import Optimizer

from nlp.labels import ASPECTS, INSPECTORATES, INTENTS, REGIMES
from nlp.patterns import INSPECTION_PHRASES, INSPECTORATE_PHRASES, SERVICE_PHRASES

# Classifier name -> (factory, labels). Labels carry the confidence-key prefix, so that a
# score is reported under the key the classify contract names ("intent:complaint").
TEXTCATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "intent": ("textcat", tuple(f"intent:{i}" for i in INTENTS)),
    "aspects": ("textcat_multilabel", tuple(f"aspect:{a}" for a in ASPECTS)),
    "inspectorates": ("textcat_multilabel", tuple(f"inspectorate:{i}" for i in INSPECTORATES)),
    "regime": ("textcat", tuple(f"regime:{r}" for r in REGIMES)),
    "safeguarding": ("textcat_multilabel", ("safeguarding",)),
}
# Hash table rows per classifier: 2**17 keeps five classifiers well under 30 MB.
_BOW_LENGTH = 2**17


def _bow(exclusive: bool) -> dict[str, object]:
    return {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": exclusive,
            "ngram_size": 2, "no_output_layer": False, "length": _BOW_LENGTH}


def ruler_patterns() -> list[dict[str, object]]:
    """Phrase patterns (matched lower-cased) from ``nlp.patterns``, plus token patterns."""
    patterns: list[dict[str, object]] = []
    for label, table in (("INSPECTORATE", INSPECTORATE_PHRASES),
                         ("INSPECTION", INSPECTION_PHRASES), ("SERVICE", SERVICE_PHRASES)):
        for key, phrases in table.items():
            for phrase in phrases:
                if key == "jar" and phrase in ("jar", "apa"):
                    # Upper case only: "a jar of" is not a joint area review.
                    patterns.append({"label": label, "id": key,
                                     "pattern": [{"TEXT": phrase.upper()}]})
                    continue
                patterns.append({"label": label, "id": key, "pattern": phrase})
    patterns.append({"label": "EMAIL", "pattern": [{"LIKE_EMAIL": True}]})
    return patterns


_DIGITS = re.compile(r"\d[\d ()+.-]{8,}\d")


@Language.component("phone_numbers")
def phone_numbers(doc: Doc) -> Doc:
    """Add PHONE entities for valid numbers (UK by default); cheap when there are no digits."""
    text = doc.text
    if not _DIGITS.search(text):
        return doc
    spans: list[Span] = []
    for match in phonenumbers.PhoneNumberMatcher(text[:20000], "GB"):
        if not phonenumbers.is_valid_number(match.number):
            continue
        span = doc.char_span(match.start, match.end, label="PHONE", alignment_mode="expand")
        if span is not None:
            spans.append(span)
    if spans:
        doc.ents = filter_spans(list(doc.ents) + spans)
    return doc


def build_pipeline() -> Language:
    """An untrained pipeline with every component in place and every label added."""
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler", config={"phrase_matcher_attr": "LOWER"})
    nlp.add_pipe("phone_numbers")
    for name, (factory, labels) in TEXTCATS.items():
        exclusive = factory == "textcat"
        pipe = nlp.add_pipe(factory, name=name, config={"model": _bow(exclusive)})
        for label in labels:
            pipe.add_label(label)
    return nlp


def initialize(nlp: Language, get_examples: Callable[[], Iterable[Example]]) -> Optimizer:
    """Initialise the classifiers, then load the rules (initialising clears the ruler).

    Each classifier is given its labels: left to infer them, every textcat would take all
    the categories it sees on the examples, and the five label sets would merge.
    """
    components = nlp.config["initialize"]["components"]
    for name, (_, labels) in TEXTCATS.items():
        components[name] = {"labels": list(labels)}
    optimizer = nlp.initialize(get_examples)
    nlp.get_pipe("entity_ruler").add_patterns(ruler_patterns())  # type: ignore[attr-defined]
    return optimizer
