"""Which classifier the bot uses: the shipped spaCy pipeline, or the keyword fallback.

``intake.classify.get_classifier`` calls :func:`load_classifier` once per process. A fresh
checkout ships the trained pipeline in ``nlp/model``; when it is missing (or a configured
``model_dir`` does not exist) the bot still runs, on keywords, and says so in the log.
"""

from __future__ import annotations

import logging
from pathlib import Path

from intake.classify import Classifier
from intake.settings import get_settings

log = logging.getLogger(__name__)

SHIPPED_MODEL = Path(__file__).resolve().parent / "model"


def model_path() -> Path:
    """The configured model folder, else the one shipped with the package."""
    return get_settings().model_dir or SHIPPED_MODEL


def has_model(path: Path) -> bool:
    return (path / "meta.json").is_file() and (path / "config.cfg").is_file()


def load_classifier() -> Classifier:
    """The trained spaCy classifier when a model exists, else the keyword classifier."""
    path = model_path()
    if has_model(path):
        from nlp.trained import SpacyClassifier

        return SpacyClassifier.load(path)
    from nlp.baseline import KeywordClassifier

    log.warning("no trained model at %s: classifying with keyword rules", path.name)
    return KeywordClassifier()
