"""Boosted decision trees, read from JSON and evaluated with numpy: the verifier's model.

Every tree is stored complete to a fixed depth (a leaf above that depth is repeated below it), so
one question walks all trees at once, level by level, in a few array operations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NEVER = 1e300  # a split that sends everything left: pads a leaf that sits above the full depth


@dataclass(frozen=True)
class BoostedTrees:
    """A sum of trees over named features; probability() is the logistic of base + the trees' leaves."""

    names: tuple[str, ...]
    base: float
    depth: int
    feature: np.ndarray  # (trees, 2**depth - 1) feature index of each split, level order
    threshold: np.ndarray  # (trees, 2**depth - 1): go right when the feature is above it
    value: np.ndarray  # (trees, 2**depth) leaf values, left to right

    @classmethod
    def constant(cls, names: tuple[str, ...], base: float = 0.0) -> "BoostedTrees":
        """No trees: the same probability for everything (a model before any fit)."""
        return cls(names, base, 0, np.zeros((0, 0), dtype=np.intp), np.zeros((0, 0)), np.zeros((0, 1)))

    @classmethod
    def from_json(cls, data: dict, names: tuple[str, ...]) -> "BoostedTrees":
        """Read the stored form; the features are matched by name, so a reordered list still loads right."""
        if data.get("kind") != "boosted-trees":
            raise ValueError("the verifier is not boosted trees (a model file from before the thirteenth session?): "
                             "refit with bench/train_ranker.py")
        stored = tuple(data["features"])
        missing = set(stored) - set(names)
        if missing:
            raise ValueError(f"the verifier uses features this code does not compute: {sorted(missing)}")
        position = [names.index(n) for n in stored]
        depth, trees = int(data["depth"]), data["trees"]
        feature = np.asarray([[position[f] for f in t["feature"]] for t in trees], dtype=np.intp)
        return cls(names, float(data["base"]), depth,
                   feature.reshape(len(trees), 2**depth - 1),
                   np.asarray([t["threshold"] for t in trees], dtype=np.float64).reshape(len(trees), 2**depth - 1),
                   np.asarray([t["value"] for t in trees], dtype=np.float64).reshape(len(trees), 2**depth))

    def to_json(self) -> dict:
        """The stored form: feature names, not positions."""
        return {
            "kind": "boosted-trees",
            "features": list(self.names),
            "base": self.base,
            "depth": self.depth,
            "trees": [
                {"feature": f.tolist(), "threshold": t.tolist(), "value": v.tolist()}
                for f, t, v in zip(self.feature, self.threshold, self.value)
            ],
        }

    def __post_init__(self) -> None:
        # Flat views: one walk costs a handful of numpy calls whatever the number of trees.
        count, inner = len(self.feature), 2**self.depth - 1
        start = np.arange(count) * inner  # each tree's root in the flat split arrays
        flat = {
            "_split_feature": self.feature.ravel(),
            "_split_threshold": self.threshold.ravel(),
            "_leaf_value": self.value.ravel(),
            "_roots": start,
            "_child_shift": start - 1,  # left child of flat split k is 2k - shift, right 2k - shift + 1
            "_leaf_shift": np.arange(count) * (inner + 1) - start - inner,  # flat node -> its flat leaf
        }
        for name, array in flat.items():
            object.__setattr__(self, name, array)

    def raw(self, rows: np.ndarray) -> np.ndarray:
        """Log-odds for each row of a (questions, features) matrix, or for one feature vector."""
        return np.asarray([self._raw_one(row) for row in np.atleast_2d(np.asarray(rows, dtype=np.float64))])

    def _raw_one(self, row: np.ndarray) -> float:
        """Log-odds for one feature vector: all trees walked together, a level at a time."""
        node = self._roots
        for _ in range(self.depth):
            node = 2 * node - self._child_shift + (row.take(self._split_feature.take(node)) > self._split_threshold.take(node))
        return self.base + float(self._leaf_value.take(node + self._leaf_shift).sum())

    def probability(self, row: np.ndarray) -> float:
        """The model's probability for one feature vector."""
        return 1.0 / (1.0 + math.exp(-self._raw_one(np.asarray(row, dtype=np.float64))))

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """The model's probability for each row."""
        return 1.0 / (1.0 + np.exp(-self.raw(rows)))
