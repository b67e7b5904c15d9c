"""Choose the word-vector blend weights and the aspect threshold on the dev split only.

``python -m nlp.vectors.tune`` trains on the train split alone (heads and bag-of-words,
fixed seed), scores the dev split over a grid and prints the choice, to be copied into
``nlp.train.BLEND`` and the aspect threshold. The test split, the evaluation set and the
blind set are never read. Intent is tuned first (aspects are only given for some
intents), then the aspect weight and threshold together.

Rule: the best dev macro F1; among settings within ``TIE`` of it, the smallest weight.
The vectors cost something real even when dev scores tie: blending lowers the scores'
peaks, so more messages are marked for review (the share is printed for each setting);
they earn a place only by a gain on dev larger than the tie margin.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from nlp.dataset import load_split
from nlp.evaluate import score
from nlp.pipeline import VECTOR_HEADS
from nlp.train import train_model
from nlp.trained import SpacyClassifier

WEIGHTS = [round(0.05 * i, 2) for i in range(13)]  # 0 .. 0.6
THRESHOLDS = [0.35, 0.4, 0.45, 0.5, 0.55]
TIE = 0.005


def choose(results: dict[tuple[float, float], float]) -> tuple[float, float]:
    """(weight, threshold) by the rule above; the threshold nearest 0.45 breaks ties."""
    best = max(results.values())
    near = [k for k, v in results.items() if v >= best - TIE]
    return min(near, key=lambda k: (k[0], abs(k[1] - 0.45)))


def main() -> None:
    train, dev = load_split("train"), load_split("dev")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model"
        train_model(train, path, blend={"intent": 1.0, "aspects": 1.0})
        model = SpacyClassifier.load(path)
    heads = model.nlp.get_pipe(VECTOR_HEADS)

    def run(intent: float, aspects: float, threshold: float) -> dict[str, float]:
        heads.blend = {"intent": intent, "aspects": aspects}  # type: ignore[attr-defined]
        model.thresholds["aspects"] = threshold
        return score(model, dev, "dev").figures

    intent: dict[tuple[float, float], float] = {}
    for w in WEIGHTS:
        figures = run(w, 0.0, 0.45)
        intent[(w, 0.45)] = figures["intent macro F1"]
        print(f"intent weight {w:.2f}: dev intent macro F1 {figures['intent macro F1']:.3f}, "
              f"inspectorates exact {figures['inspectorates exact set']:.3f}, safeguarding "
              f"recall {figures['safeguarding recall']:.3f}, marked for review "
              f"{figures['marked for review']:.3f}")
    wi, _ = choose(intent)
    aspects: dict[tuple[float, float], float] = {}
    for w in WEIGHTS:
        for t in THRESHOLDS:
            figures = run(wi, w, t)
            aspects[(w, t)] = figures["aspects macro F1"]
            print(f"aspects weight {w:.2f} threshold {t:.2f}: dev aspects macro F1 "
                  f"{figures['aspects macro F1']:.3f}, marked for review "
                  f"{figures['marked for review']:.3f}")
    wa, threshold = choose(aspects)
    print(f"chosen: BLEND = {{'intent': {wi}, 'aspects': {wa}}}, aspect threshold "
          f"{threshold} (dev intent {intent[(wi, 0.45)]:.3f}, aspects "
          f"{aspects[(wa, threshold)]:.3f}; bag-of-words alone {intent[(0.0, 0.45)]:.3f}, "
          f"{aspects[(0.0, 0.45)]:.3f})")


if __name__ == "__main__":
    main()
