"""Early stopping for the LSTM's fit: keep the best epoch's weights, stop after `patience` epochs without a gain."""
from __future__ import annotations

import copy
from typing import Any


class EarlyStopping:
    """Watches one score per epoch (lower is better); remembers the best state and says when to stop."""

    def __init__(self, patience: int, min_gain: float = 1e-6):
        self.patience, self.min_gain = patience, min_gain
        self.best, self.best_state, self.best_epoch, self.bad = float("inf"), None, None, 0

    def improved(self, score: float, epoch: int, state: dict[str, Any]) -> bool:
        """Record an epoch's score; on a gain of more than min_gain keep a copy of `state` and return True."""
        if score < self.best - self.min_gain:
            self.best, self.bad, self.best_state, self.best_epoch = score, 0, copy.deepcopy(state), epoch
            return True
        self.bad += 1
        return False

    @property
    def stop(self) -> bool:
        """True once `patience` epochs in a row brought no gain."""
        return self.bad >= self.patience
