"""Static word vectors distilled from a sentence-embedding model (see README.md here)."""
