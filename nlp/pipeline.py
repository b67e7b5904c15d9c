"""The spaCy pipeline: rule components for names and contact details, trained classifiers.

Built from ``spacy.blank("en")`` (PRODUCT.md, NLP: no third-party statistical models):

- ``span_ruler``: inspectorates under their many spellings (INSPECTORATE, id = label),
  inspection types (INSPECTION, id = regime) and services that point to a body (SERVICE),
  as phrase patterns into ``doc.spans["mentions"]`` (a phrase matcher only, and no
  ``doc.ents`` round trip, keeps this fast);
- ``phone_numbers``: PHONE spans in ``doc.spans["phones"]``, only numbers that
  ``phonenumbers`` says are valid;
- ``intent`` (exclusive), ``aspects``, ``inspectorates`` (multi-label), ``regime``
  (exclusive) and ``safeguarding`` (one label): bag-of-words text classifiers, which
  are small and fast enough for thousands of messages a second on one core;
- ``vector_heads``: linear heads on a document vector of static word vectors, blended into
  the intent and aspect scores, so that words our training data never used still count
  (``nlp.vectors``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import spacy
from spacy.attrs import LIKE_NUM
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from thinc.api import Optimizer

from nlp.extract import phone_matches
from nlp.labels import ASPECTS, INSPECTORATES, INTENTS, REGIMES
from nlp.patterns import INSPECTION_PHRASES, INSPECTORATE_PHRASES, SERVICE_PHRASES
from nlp.vectors.heads import make_vector_heads  # noqa: F401 - registers the component

# Classifier name -> (factory, labels). Labels carry the confidence-key prefix, so that a
# score is reported under the key the classify contract names ("intent:complaint").
TEXTCATS: dict[str, tuple[str, tuple[str, ...]]] = {
    "intent": ("textcat", tuple(f"intent:{i}" for i in INTENTS)),
    "aspects": ("textcat_multilabel", tuple(f"aspect:{a}" for a in ASPECTS)),
    "inspectorates": ("textcat_multilabel", tuple(f"inspectorate:{i}" for i in INSPECTORATES)),
    "regime": ("textcat", tuple(f"regime:{r}" for r in REGIMES)),
    "safeguarding": ("textcat_multilabel", ("safeguarding",)),
}
# Hash table rows per classifier: 2**16 keeps the five classifiers near 6 MB and loading
# in well under a second, with test scores no worse than 2**17 gave.
_BOW_LENGTH = 2**16


def _bow(exclusive: bool) -> dict[str, object]:
    return {"@architectures": "spacy.TextCatBOW.v3", "exclusive_classes": exclusive,
            "ngram_size": 2, "no_output_layer": False, "length": _BOW_LENGTH}


def ruler_patterns() -> list[dict[str, object]]:
    """Phrase patterns (matched lower-cased) from ``nlp.patterns``.

    "JAR" and "APA" are left out: in lower case they are ordinary words ("a jar of"), so
    ``nlp.rules`` finds them on the original text, upper case only.
    """
    patterns: list[dict[str, object]] = []
    for label, table in (("INSPECTORATE", INSPECTORATE_PHRASES),
                         ("INSPECTION", INSPECTION_PHRASES), ("SERVICE", SERVICE_PHRASES)):
        for key, phrases in table.items():
            for phrase in phrases:
                if key == "jar" and phrase in ("jar", "apa"):
                    continue
                patterns.append({"label": label, "id": key, "pattern": phrase})
    return patterns


MENTIONS = "mentions"
PHONES = "phones"
VECTOR_HEADS = "vector_heads"


# Tokens that may sit between the digit groups of one phone number.
_JOINERS = frozenset({"(", ")", "-", "+", ".", "+44"})


def _number_runs(doc: Doc) -> list[Span]:
    """Runs of number-like tokens (and joiners) long enough to be a phone number.

    Reading ``doc.text`` builds every token; the LIKE_NUM array does not, so a message
    with no long run of digits costs almost nothing here.
    """
    numeric = doc.to_array(LIKE_NUM).nonzero()[0]
    runs: list[Span] = []
    i = 0
    while i < len(numeric):
        start = end = int(numeric[i])
        i += 1
        # Extend over further numbers, bridging single joiner tokens between them.
        while i < len(numeric) and (numeric[i] == end + 1 or (
                numeric[i] == end + 2 and doc[end + 1].text in _JOINERS)):
            end = int(numeric[i])
            i += 1
        span = doc[max(0, start - 1) if start and doc[start - 1].text in _JOINERS else start:
                   end + 1]
        if sum(ch.isdigit() for ch in span.text) >= 9:
            runs.append(span)
    return runs


@Language.component("phone_numbers")
def phone_numbers(doc: Doc) -> Doc:
    """PHONE spans for valid numbers (UK by default), from ``nlp.extract.phone_matches``;
    each span's ``id_`` holds the number formatted for a letter."""
    spans: list[Span] = []
    for run in _number_runs(doc):
        for start, end, formatted in phone_matches(run.text):
            span = doc.char_span(run.start_char + start, run.start_char + end, label="PHONE",
                                 alignment_mode="expand")
            if span is not None:
                span.id_ = formatted
                spans.append(span)
    doc.spans[PHONES] = spans
    return doc


def build_pipeline() -> Language:
    """An untrained pipeline with every component in place and every label added."""
    nlp = spacy.blank("en")
    nlp.add_pipe("span_ruler", config={"spans_key": MENTIONS, "phrase_matcher_attr": "LOWER"})
    nlp.add_pipe("phone_numbers")
    for name, (factory, labels) in TEXTCATS.items():
        exclusive = factory == "textcat"
        pipe = nlp.add_pipe(factory, name=name, config={"model": _bow(exclusive)})
        for label in labels:
            pipe.add_label(label)
    nlp.add_pipe("vector_heads", name=VECTOR_HEADS)
    return nlp


def refresh_rules(nlp: Language) -> None:
    """Load the phrase patterns from ``nlp.patterns`` into a loaded pipeline's span ruler, so
    a new spelling in the code takes effect without retraining (the model keeps weights;
    the rules live in code)."""
    ruler = nlp.get_pipe("span_ruler")
    ruler.clear()  # type: ignore[attr-defined]
    ruler.add_patterns(ruler_patterns())  # type: ignore[attr-defined]


def initialize(nlp: Language, get_examples: Callable[[], Iterable[Example]]) -> Optimizer:
    """Initialise the classifiers, then load the rules (initialising clears the ruler).

    Each classifier is given its labels: left to infer them, every textcat would take all
    the categories it sees on the examples, and the five label sets would merge.
    """
    components = nlp.config["initialize"]["components"]
    for name, (_, labels) in TEXTCATS.items():
        components[name] = {"labels": list(labels)}
    optimizer = nlp.initialize(get_examples)
    nlp.get_pipe("span_ruler").add_patterns(ruler_patterns())  # type: ignore[attr-defined]
    return optimizer
