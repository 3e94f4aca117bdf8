"""The top-level topic classifier: a linear model over TF-IDF word uni- and bigrams, scored with numpy.

The model is trained by ``bench/train_topics.py`` (scikit-learn ``TfidfVectorizer`` + ``LogisticRegression``)
and shipped as one ``.npz`` of plain arrays (no pickle): the vocabulary, its idf weights, the coefficient
matrix, intercepts, class codes, a softmax temperature fitted for calibration, and a version string. Scoring
here reproduces the vectorizer exactly (lowercase, ``\\b\\w\\w+\\b`` tokens, bigrams joined by a space,
``1 + log(tf)``, idf, l2 norm); the training script checks that both give the same probabilities before it
writes the file.

Loading reads a file, so it lives here beside the scoring; ``load_topic_model(None)`` reads the packaged model.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import numpy.typing as npt

DEFAULT_MODEL_FILE = "topic_model.npz"
# The same pattern as scikit-learn's default token_pattern, so training and scoring see the same tokens.
TOKEN = re.compile(r"(?u)\b\w\w+\b")


class TopicModelError(ValueError):
    """The model file is missing arrays or its arrays disagree in shape."""


@dataclass(frozen=True)
class TopicScore:
    code: str
    probability: float


@dataclass(frozen=True)
class TopicModel:
    name: str
    version: str
    classes: tuple[str, ...]
    labels: dict[str, str]
    vocabulary: dict[str, int]
    idf: npt.NDArray[np.float32]
    # (vocabulary size, classes): one row per term, so a document gathers only the rows of its terms.
    coef: npt.NDArray[np.float32]
    intercept: npt.NDArray[np.float32]
    temperature: float
    max_chars: int

    def features(self, text: str) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        """Term indices and their l2-normalised sublinear TF-IDF weights for ``text``."""
        tokens = TOKEN.findall(text[: self.max_chars].lower())
        grams = tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
        ids = [i for i in map(self.vocabulary.get, grams) if i is not None]
        if not ids:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float64)
        index, counts = np.unique(np.asarray(ids, dtype=np.intp), return_counts=True)
        weights = (1.0 + np.log(counts)) * self.idf[index]
        return index, weights / np.linalg.norm(weights)

    def logits(self, text: str) -> npt.NDArray[np.float64]:
        """The linear class scores (scikit-learn's ``decision_function``)."""
        index, weights = self.features(text)
        return np.asarray(self.intercept + weights @ self.coef[index], dtype=np.float64)

    def probabilities(self, text: str) -> npt.NDArray[np.float64]:
        """Calibrated class probabilities (softmax of the linear scores over ``temperature``)."""
        z = self.logits(text) / self.temperature
        z -= z.max()
        p = np.exp(z)
        return np.asarray(p / p.sum(), dtype=np.float64)

    def rank(self, text: str) -> list[TopicScore]:
        """Every class, most probable first (ties by code, so the order is deterministic)."""
        p = self.probabilities(text)
        order = sorted(range(len(self.classes)), key=lambda k: (-p[k], self.classes[k]))
        return [TopicScore(self.classes[k], float(p[k])) for k in order]


def topic_model_from_arrays(arrays: dict[str, npt.NDArray[np.generic]]) -> TopicModel:
    required = ("name", "version", "classes", "labels", "terms", "idf", "coef", "intercept", "temperature", "max_chars")
    missing = [k for k in required if k not in arrays]
    if missing:
        raise TopicModelError(f"topic model lacks arrays: {', '.join(missing)}")
    terms = [str(t) for t in arrays["terms"].tolist()]
    classes = tuple(str(c) for c in arrays["classes"].tolist())
    labels = [str(label) for label in arrays["labels"].tolist()]
    coef = np.ascontiguousarray(arrays["coef"], dtype=np.float32)
    idf = np.asarray(arrays["idf"], dtype=np.float32)
    intercept = np.asarray(arrays["intercept"], dtype=np.float32)
    shapes_agree = (
        len(labels) == len(classes)
        and coef.shape == (len(terms), len(classes))
        and idf.shape == (len(terms),)
        and intercept.shape == (len(classes),)
    )
    if not shapes_agree:
        raise TopicModelError(
            f"topic model arrays disagree: {len(terms)} terms, {len(classes)} classes, coef {coef.shape}, "
            f"idf {idf.shape}, intercept {intercept.shape}"
        )
    temperature = float(arrays["temperature"])
    if not temperature > 0:
        raise TopicModelError(f"topic model temperature must be positive, got {temperature}")
    return TopicModel(
        name=str(arrays["name"]),
        version=str(arrays["version"]),
        classes=classes,
        labels=dict(zip(classes, labels, strict=True)),
        vocabulary={t: i for i, t in enumerate(terms)},
        idf=idf,
        coef=coef,
        intercept=intercept,
        temperature=temperature,
        max_chars=int(arrays["max_chars"]),
    )


def read_topic_model(path: Path) -> TopicModel:
    with np.load(path, allow_pickle=False) as data:
        return topic_model_from_arrays({k: data[k] for k in data.files})


@functools.cache
def _packaged_topic_model() -> TopicModel:
    with resources.as_file(resources.files("services.enrich.taxonomy").joinpath(DEFAULT_MODEL_FILE)) as path:
        return read_topic_model(path)


def load_topic_model(path: str | Path | None) -> TopicModel:
    """The packaged model when ``path`` is None (loaded once per process), else the ``.npz`` at ``path``."""
    return _packaged_topic_model() if path is None else read_topic_model(Path(path))
