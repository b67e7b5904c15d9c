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

from intake.classify import ClassifyInput
from intake.records import Classification
from nlp.assemble import Labels, build, full_text
from nlp.labels import ASPECT_INTENTS, ASPECTS, INSPECTORATES, INTENTS, NAMING_INTENTS, REGIMES
from nlp.pipeline import phone_numbers  # noqa: F401 - registers the component for spacy.load
from nlp.rules import Mentions, decide_inspectorates, safeguarding_rule

# The classifiers read at most this much: a 1 MB paste is classified on its opening, which
# is where a complaint says what it is about, and the batch keeps its speed.
MAX_MODEL_CHARS = 20_000
BATCH_SIZE = 256


def doc_mentions(doc: Doc) -> Mentions:
    """Inspectorates, inspection types and services the entity ruler found."""
    found: dict[str, set[str]] = {"INSPECTORATE": set(), "INSPECTION": set(), "SERVICE": set()}
    for ent in doc.ents:
        if ent.label_ in found:
            found[ent.label_].add(ent.ent_id_)
    return Mentions(frozenset(found["INSPECTORATE"]), frozenset(found["INSPECTION"]),
                    frozenset(found["SERVICE"]))


def _best(cats: dict[str, float], prefix: str, labels: Iterable[str]) -> tuple[str, float]:
    scored = [(cats.get(f"{prefix}:{label}", 0.0), label) for label in labels]
    score, label = max(scored)
    return label, score


def decide_intent(cats: dict[str, float]) -> tuple[str, float]:
    return _best(cats, "intent", INTENTS)


def decide_aspects(cats: dict[str, float], threshold: float) -> dict[str, float]:
    """Aspects above the threshold; the likeliest one when none is (RULES.md 1)."""
    scores = {a: cats.get(f"aspect:{a}", 0.0) for a in ASPECTS}
    chosen = {a: s for a, s in scores.items() if s >= threshold}
    if not chosen:
        top = max(scores, key=lambda a: scores[a])
        chosen = {top: scores[top]}
    return chosen


def decide_model_regime(cats: dict[str, float], mentions: Mentions) -> tuple[str, float, str]:
    """A named joint inspection type wins (RULES.md 1, regime); else the model."""
    named = [r for r in ("jtai", "jar", "slac") if r in mentions.inspections]
    regime, score = _best(cats, "regime", REGIMES)
    if len(named) == 1:
        if named[0] == regime:
            return regime, max(score, 0.9), f"entity_ruler.INSPECTION:{regime}+regime"
        return named[0], 0.75, f"entity_ruler.INSPECTION:{named[0]}"
    return regime, score, "textcat.regime"


def decide_model_inspectorates(cats: dict[str, float], mentions: Mentions, intent: str,
                               regime: str, threshold: float) -> tuple[dict[str, float], str]:
    """Naming intents list what is named (RULES.md 8); others follow the model."""
    if intent in NAMING_INTENTS:
        named = decide_inspectorates(mentions, intent, regime)
        return {i: max(cats.get(f"inspectorate:{i}", 0.0), 0.9) for i in named}, \
            "entity_ruler.INSPECTORATE"
    chosen = {i: s for i in INSPECTORATES
              if (s := cats.get(f"inspectorate:{i}", 0.0)) >= threshold}
    if regime == "external":
        chosen.pop("ofsted", None)
    if not chosen:
        fallback = decide_inspectorates(mentions, intent, regime)
        chosen = {i: cats.get(f"inspectorate:{i}", 0.0) for i in fallback}
    return chosen, "textcat.inspectorates"


class SpacyClassifier:
    """Classifies with the trained pipeline; fields from ``nlp.extract``."""

    def __init__(self, nlp: Language) -> None:
        self.nlp = nlp
        meta = nlp.meta.get("intake", {})
        self.version: str = meta.get("model_version", f"spacy-{nlp.meta.get('version')}")
        self.thresholds: dict[str, float] = {"safeguarding": 0.35, "aspects": 0.5,
                                             "inspectorates": 0.5,
                                             **meta.get("thresholds", {})}

    @classmethod
    def load(cls, path: Path) -> SpacyClassifier:
        return cls(spacy.load(path))

    def labels(self, doc: Doc, text: str) -> Labels:
        """Every label for one processed text, with confidences and the rule behind each."""
        cats = doc.cats
        mentions = doc_mentions(doc)
        intent, intent_score = decide_intent(cats)
        regime, regime_score, regime_rule = decide_model_regime(cats, mentions)
        if intent == "provider_concern":
            regime, regime_score, regime_rule = "ofsted", max(regime_score, 0.9), \
                "rules.provider_concern_is_ofsted"
        inspectorates, insp_rule = decide_model_inspectorates(
            cats, mentions, intent, regime, self.thresholds["inspectorates"])
        aspects = (decide_aspects(cats, self.thresholds["aspects"])
                   if intent in ASPECT_INTENTS else {})
        safe_score = cats.get("safeguarding", 0.0)
        rule_hit, phrase = safeguarding_rule(text)
        model_hit = safe_score >= self.thresholds["safeguarding"]
        safeguarding = rule_hit or model_hit
        confidence = {f"intent:{intent}": intent_score, f"regime:{regime}": regime_score,
                      "safeguarding": max(safe_score, 0.9 if rule_hit else 0.0)
                      if safeguarding else 1.0 - safe_score}
        confidence.update({f"aspect:{a}": s for a, s in aspects.items()})
        confidence.update({f"inspectorate:{i}": s for i, s in inspectorates.items()})
        rules = {"intent": "textcat.intent", "aspects": "textcat.aspects",
                 "inspectorates": insp_rule, "regime": regime_rule,
                 "safeguarding": _safeguarding_rule_name(rule_hit, phrase, model_hit)}
        return Labels(intent, sorted(aspects), sorted(inspectorates), regime, safeguarding,
                      confidence, rules)

    def docs(self, texts: list[str]) -> Iterator[Doc]:
        return self.nlp.pipe((t[:MAX_MODEL_CHARS] for t in texts), batch_size=BATCH_SIZE)

    def classify(self, item: ClassifyInput) -> Classification:
        return self.classify_many([item])[0]

    def classify_many(self, items: Iterable[ClassifyInput]) -> list[Classification]:
        batch = list(items)
        texts = [full_text(item) for item in batch]
        return [build(item, self.labels(doc, text[:MAX_MODEL_CHARS]), self.version)
                for item, text, doc in zip(batch, texts, self.docs(texts), strict=True)]


def _safeguarding_rule_name(rule_hit: bool, phrase: str | None, model_hit: bool) -> str:
    if rule_hit and model_hit:
        return f"rules.harm:{phrase}+textcat.safeguarding"
    if rule_hit:
        return f"rules.harm:{phrase}"
    return "textcat.safeguarding"
