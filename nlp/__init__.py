"""spaCy pipeline, training data, training and evaluation."""
