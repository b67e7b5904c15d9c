"""Score a classifier against labelled examples, side by side with the keyword baseline.

``intake-bot nlp evaluate`` runs the shipped model and the keyword classifier on the test
split and on the held-out evaluation set, and prints per-label precision, recall and F1,
macro F1, accuracies, exact-match rates for URN and dates, and confusion matrices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from intake.classify import Classifier
from intake.records import Classification
from nlp.dataset import LabelledExample
from nlp.labels import ASPECTS, INSPECTORATES, INTENTS, REGIMES
from nlp.metrics import LabelScore, accuracy, confusion, macro_f1, multilabel_scores


@dataclass
class Scores:
    """Every figure for one classifier on one set of examples."""

    name: str
    count: int
    intent: list[LabelScore]
    aspects: list[LabelScore]
    inspectorates: list[LabelScore]
    regime: list[LabelScore]
    figures: dict[str, float]  # headline numbers, keyed by name
    intent_confusion: dict[tuple[str, str], int]
    regime_confusion: dict[tuple[str, str], int]
    misses: list[str]  # ids of examples with a wrong intent or a missed safeguarding flag


def score(classifier: Classifier, examples: Sequence[LabelledExample], name: str) -> Scores:
    """Classify every example and compare with its labels."""
    preds = classifier.classify_many([e.as_input() for e in examples])
    return compare(examples, preds, name)


def compare(examples: Sequence[LabelledExample], preds: Sequence[Classification],
            name: str) -> Scores:
    gold_intent = [e.intent for e in examples]
    pred_intent = [p.intent for p in preds]
    intent = multilabel_scores([{g} for g in gold_intent], [{p} for p in pred_intent], INTENTS)
    aspect_idx = [i for i, e in enumerate(examples) if e.aspects]
    aspects = multilabel_scores([set(examples[i].aspects) for i in aspect_idx],
                                [set(preds[i].aspects) for i in aspect_idx], ASPECTS)
    inspectorates = multilabel_scores([set(e.inspectorates) for e in examples],
                                      [set(p.inspectorates) for p in preds], INSPECTORATES)
    gold_regime = [e.regime for e in examples]
    pred_regime = [p.regime for p in preds]
    regime = multilabel_scores([{g} for g in gold_regime], [{p} for p in pred_regime], REGIMES)
    safe = multilabel_scores([{"yes"} if e.safeguarding else set() for e in examples],
                             [{"yes"} if p.safeguarding else set() for p in preds], ["yes"])
    safe_score = safe[0] if safe else LabelScore("yes", 1.0, 1.0, 1.0, 0)
    figures = {
        "intent macro F1": macro_f1(intent),
        "intent accuracy": accuracy(gold_intent, pred_intent),
        "aspects macro F1": macro_f1(aspects),
        "aspects exact set": accuracy([sorted(examples[i].aspects) for i in aspect_idx],
                                      [sorted(preds[i].aspects) for i in aspect_idx]),
        "inspectorates exact set": accuracy([e.inspectorates for e in examples],
                                            [p.inspectorates for p in preds]),
        "regime accuracy": accuracy(gold_regime, pred_regime),
        "safeguarding recall": safe_score.recall,
        "safeguarding precision": safe_score.precision,
        "urn exact": accuracy([e.urn for e in examples], [p.urn for p in preds]),
        "report_published exact": accuracy([e.report_published for e in examples],
                                           [p.report_published for p in preds]),
        "draft_received exact": accuracy([e.draft_received for e in examples],
                                         [p.draft_received for p in preds]),
    }
    wrong = [p for e, p in zip(examples, preds, strict=True) if e.intent != p.intent]
    figures["marked for review"] = sum(p.needs_review for p in preds) / max(1, len(preds))
    figures["wrong intents marked for review"] = (
        sum(p.needs_review for p in wrong) / len(wrong) if wrong else 1.0)
    misses = [e.id for e, p in zip(examples, preds, strict=True)
              if e.intent != p.intent or (e.safeguarding and not p.safeguarding)]
    return Scores(name, len(examples), intent, aspects, inspectorates, regime, figures,
                  dict(confusion(gold_intent, pred_intent)),
                  dict(confusion(gold_regime, pred_regime)), misses)


# --- Markdown ---------------------------------------------------------------------------

def _headline(model: Scores, baseline: Scores) -> list[str]:
    lines = [f"| figure | {model.name} | {baseline.name} |", "|---|---:|---:|"]
    for key, value in model.figures.items():
        lines.append(f"| {key} | {value:.3f} | {baseline.figures[key]:.3f} |")
    return lines


def _per_label(title: str, model: list[LabelScore], baseline: list[LabelScore]) -> list[str]:
    base = {s.label: s for s in baseline}
    lines = [f"**{title}**", "", "| label | support | P | R | F1 | baseline F1 |",
             "|---|---:|---:|---:|---:|---:|"]
    for s in model:
        b = base.get(s.label)
        lines.append(f"| {s.label} | {s.support} | {s.precision:.2f} | {s.recall:.2f} | "
                     f"{s.f1:.2f} | {b.f1:.2f} |" if b else
                     f"| {s.label} | {s.support} | {s.precision:.2f} | {s.recall:.2f} | "
                     f"{s.f1:.2f} | - |")
    return lines + [""]


def _matrix(title: str, counts: dict[tuple[str, str], int], labels: Sequence[str]) -> list[str]:
    used = [lab for lab in labels if any(lab in pair for pair in counts)]
    short = {lab: lab.replace("_publication", "").replace("information_request", "info_req")
             .replace("provider_concern", "provider") for lab in used}
    lines = [f"**{title}** (rows: labelled, columns: predicted)", "",
             "| | " + " | ".join(short[c] for c in used) + " |",
             "|---|" + "---:|" * len(used)]
    for row in used:
        cells = " | ".join(str(counts.get((row, col), 0)) for col in used)
        lines.append(f"| {short[row]} | {cells} |")
    return lines + [""]


def report_markdown(title: str, model: Scores, baseline: Scores) -> str:
    """One section: headline figures, per-label tables and confusion matrices."""
    lines = [f"### {title} ({model.count} messages)", ""]
    lines += _headline(model, baseline) + [""]
    lines += _per_label("Intent", model.intent, baseline.intent)
    lines += _per_label("Aspects (messages labelled with aspects)", model.aspects,
                        baseline.aspects)
    lines += _per_label("Inspectorates", model.inspectorates, baseline.inspectorates)
    lines += _per_label("Regime", model.regime, baseline.regime)
    lines += _matrix(f"Intent confusion, {model.name}", model.intent_confusion, INTENTS)
    lines += _matrix(f"Intent confusion, {baseline.name}", baseline.intent_confusion, INTENTS)
    lines += _matrix(f"Regime confusion, {model.name}", model.regime_confusion, REGIMES)
    if model.misses:
        lines += [f"Wrong intent or missed safeguarding ({model.name}): "
                  + ", ".join(model.misses), ""]
    return "\n".join(lines)
