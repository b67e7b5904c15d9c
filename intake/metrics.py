"""Process metrics observed in the pipeline (exported by intake.health)."""

from prometheus_client import Histogram

CLASSIFY_SECONDS = Histogram("intake_classification_seconds", "Time to classify one message",
                             registry=None,
                             buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5))
