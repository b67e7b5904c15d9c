"""The shipped classifier: the trained spaCy pipeline, with rules where rules are surer.

Labels come from the text classifiers; the entity ruler's mentions decide what the rules
define exactly (which bodies an enquiry names, RULES.md 8; an inspection type named in
the text); safeguarding is the rule layer OR the model above a low threshold, because a
missed child at risk is far worse than a false alarm.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import filter_spans

from intake.classify import ClassifyInput
from intake.records import Classification
from nlp.assemble import Labels, build, full_text
from nlp.baseline import ASPECT_RULES
from nlp.intent_rules import rule_intent
from nlp.labels import ASPECT_INTENTS, ASPECTS, INTENTS, REGIMES
from nlp.patterns import JAR_UPPER
from nlp.pipeline import (
    MENTIONS,
    PHONES,
    phone_numbers,  # noqa: F401 - registers the component for spacy.load
    refresh_rules,
)
from nlp.rules import (
    Mentions,
    decide_inspectorates,
    decide_regime,
    safeguarding_rule,
    text_signals,
)
from nlp.text import ci, lower

# The classifiers read at most this much: a 1 MB paste is classified on its opening, which
# is where a complaint says what it is about, and the batch keeps its speed.
MAX_MODEL_CHARS = 20_000
BATCH_SIZE = 256


def doc_mentions(doc: Doc, text: str) -> Mentions:
    """Inspectorates, inspection types and services the span ruler found."""
    found: dict[str, set[str]] = {"INSPECTORATE": set(), "INSPECTION": set(), "SERVICE": set()}
    # "HMI Probation" also contains Ofsted's "HMI": keep the longest of overlapping names.
    for span in filter_spans(list(doc.spans.get(MENTIONS, []))):
        found[span.label_].add(span.id_)
    if JAR_UPPER.search(text):
        found["INSPECTION"].add("jar")
    return Mentions(frozenset(found["INSPECTORATE"]), frozenset(found["INSPECTION"]),
                    frozenset(found["SERVICE"]), **text_signals(text))


def _best(cats: dict[str, float], prefix: str, labels: Iterable[str]) -> tuple[str, float]:
    scored = [(cats.get(f"{prefix}:{label}", 0.0), label) for label in labels]
    score, label = max(scored)
    return label, score


# Confidence of a label a rule gives from a name in the text (the rules are right on
# about 96% of held-out messages that name a body).
RULE_CONFIDENCE = 0.85
# A model naming a joint regime the text does not name must be at least this sure.
MODEL_REGIME_OVERRIDE = 0.95
CORPORATE = ci(r"\bcorporate\s+assessment\b")
# Added to an aspect's score when its keywords occur (tuned on held-out data).
ASPECT_BONUS = 0.25
# The safeguarding topic words count when a provider concern is at least this likely.
PROVIDER_CONCERN_CUE = 0.3
# Added to the model's score for the intent a cue phrase names (tuned on held-out data).
RULE_BONUS = 0.35
# Rules the model defers to: rare in training data, costly to miss (``nlp.intent_rules``).
OVERRIDING = frozenset({"withhold_publication", "escalation"})


def decide_intent(cats: dict[str, float], text: str) -> tuple[str, float, str]:
    """The model's intent, overridden by a withhold or escalation phrase, nudged by cues."""
    rule, rule_name = rule_intent(text)
    model_intent, model_score = _best(cats, "intent", INTENTS)
    if rule in OVERRIDING:
        score = cats.get(f"intent:{rule}", 0.0)
        return rule, max(score, 0.9 if model_intent == rule else 0.7), f"{rule_name}"
    if rule is None:
        return model_intent, model_score, "textcat.intent"
    scores = {i: cats.get(f"intent:{i}", 0.0) + (RULE_BONUS if i == rule else 0.0)
              for i in INTENTS}
    intent = max(scores, key=lambda i: scores[i])
    source = f"textcat.intent+{rule_name}" if intent == rule else "textcat.intent"
    return intent, min(scores[intent], 1.0), source


def decide_aspects(cats: dict[str, float], text: str, threshold: float) -> dict[str, float]:
    """Aspects above the threshold, keyword cues adding to the model's score; the likeliest
    one when none is above it (RULES.md 1: a complaint is about something)."""
    low = lower(text)
    scores = {a: min(1.0, cats.get(f"aspect:{a}", 0.0)
                     + (ASPECT_BONUS if ASPECT_RULES[a].search(low) else 0.0))
              for a in ASPECTS}
    chosen = {a: s for a, s in scores.items() if s >= threshold}
    if not chosen:
        top = max(scores, key=lambda a: scores[a])
        chosen = {top: scores[top]}
    return chosen


def decide_model_regime(cats: dict[str, float], mentions: Mentions, intent: str,
                        corporate: bool) -> tuple[str, float, str]:
    """The regime the text's names give (``nlp.rules.decide_regime``); when they give only
    the Ofsted default, a confident model may name a joint inspection instead."""
    regime, rule = decide_regime(mentions, intent, corporate)
    model_regime, model_score = _best(cats, "regime", REGIMES)
    if rule == "regime.default_ofsted":
        if model_regime != "ofsted" and model_score >= MODEL_REGIME_OVERRIDE:
            return model_regime, model_score, "textcat.regime"
        return regime, cats.get("regime:ofsted", 0.0), f"{rule}+textcat.regime"
    return regime, max(cats.get(f"regime:{regime}", 0.0), RULE_CONFIDENCE), rule


def decide_model_inspectorates(cats: dict[str, float], mentions: Mentions, intent: str,
                               regime: str, corporate: bool) -> tuple[dict[str, float], str]:
    """The bodies the entity ruler's mentions point to (``nlp.rules``), each with the
    model's score, raised to a rule's confidence when the body is named in the text."""
    chosen = decide_inspectorates(mentions, intent, regime, corporate)
    named = mentions.inspectorates | ({"audit_commission"} if corporate else set())
    scores = {i: max(cats.get(f"inspectorate:{i}", 0.0), RULE_CONFIDENCE if i in named else 0.0)
              for i in chosen}
    return scores, "entity_ruler.INSPECTORATE+rules.inspectorates"


class SpacyClassifier:
    """Classifies with the trained pipeline; fields from ``nlp.extract``."""

    def __init__(self, nlp: Language) -> None:
        self.nlp = nlp
        refresh_rules(nlp)
        meta = nlp.meta.get("intake", {})
        self.version: str = meta.get("model_version", f"spacy-{nlp.meta.get('version')}")
        self.thresholds: dict[str, float] = {"safeguarding": 0.2, "aspects": 0.45,
                                             "inspectorates": 0.5,
                                             **meta.get("thresholds", {})}
        # Stacked aspects read the best sentence and the word vectors as well
        # (``nlp.vectors.heads.Stack``).
        self.aspect_source = ("textcat.aspects+sentences+vectors"
                              if "aspects" in meta.get("stacked", []) else "textcat.aspects")

    @classmethod
    def load(cls, path: Path) -> SpacyClassifier:
        return cls(spacy.load(path))

    def labels(self, doc: Doc, text: str) -> Labels:
        """Every label for one processed text, with confidences and the rule behind each."""
        cats = doc.cats
        mentions = doc_mentions(doc, text)
        intent, intent_score, intent_rule = decide_intent(cats, text)
        corporate = bool(CORPORATE.search(lower(text)))
        regime, regime_score, regime_rule = decide_model_regime(cats, mentions, intent,
                                                                corporate)
        inspectorates, insp_rule = decide_model_inspectorates(cats, mentions, intent, regime,
                                                              corporate)
        aspects = (decide_aspects(cats, text, self.thresholds["aspects"])
                   if intent in ASPECT_INTENTS else {})
        safe_score = cats.get("safeguarding", 0.0)
        about_provider = intent == "provider_concern" or cats.get(
            "intent:provider_concern", 0.0) > PROVIDER_CONCERN_CUE
        rule_hit, phrase = safeguarding_rule(text, about_provider)
        model_hit = safe_score >= self.thresholds["safeguarding"]
        safeguarding = rule_hit or model_hit
        confidence = {f"intent:{intent}": intent_score, f"regime:{regime}": regime_score,
                      "safeguarding": max(safe_score, 0.9 if rule_hit else 0.0)
                      if safeguarding else 1.0 - safe_score}
        confidence.update({f"aspect:{a}": s for a, s in aspects.items()})
        confidence.update({f"inspectorate:{i}": s for i, s in inspectorates.items()})
        rules = {"intent": intent_rule, "aspects": self.aspect_source,
                 "inspectorates": insp_rule, "regime": regime_rule,
                 "safeguarding": _safeguarding_rule_name(rule_hit, phrase, model_hit)}
        return Labels(intent, sorted(aspects), sorted(inspectorates), regime, safeguarding,
                      confidence, rules)

    def docs(self, texts: list[str]) -> Iterator[Doc]:
        """Processed texts in order. An empty text is processed on its own: spaCy's
        bag-of-words n-gram step fails on a batch that mixes a doc with no tokens and
        one with tokens, which would send the whole batch down the one-by-one path."""
        filled = self.nlp.pipe((t[:MAX_MODEL_CHARS] for t in texts if t), batch_size=BATCH_SIZE)
        for text in texts:
            yield next(filled) if text else self.nlp("")

    def classify(self, item: ClassifyInput) -> Classification:
        return self.classify_many([item])[0]

    def classify_many(self, items: Iterable[ClassifyInput]) -> list[Classification]:
        batch = list(items)
        texts = [full_text(item) for item in batch]
        return [build(item, self.labels(doc, text[:MAX_MODEL_CHARS]), self.version,
                      phones=_phones(doc))
                for item, text, doc in zip(batch, texts, self.docs(texts), strict=True)]


def _phones(doc: Doc) -> list[str]:
    """The valid numbers the ``phone_numbers`` component found, formatted, no repeats."""
    return list(dict.fromkeys(span.id_ for span in doc.spans.get(PHONES, [])))


def _safeguarding_rule_name(rule_hit: bool, phrase: str | None, model_hit: bool) -> str:
    if rule_hit and model_hit:
        return f"rules.harm:{phrase}+textcat.safeguarding"
    if rule_hit:
        return f"rules.harm:{phrase}"
    return "textcat.safeguarding"
