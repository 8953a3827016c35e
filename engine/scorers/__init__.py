"""Scorers behind one protocol (fit / recommend), found by name in a registry."""
from engine.scorers.base import (
    Query,
    Recommendation,
    Scorer,
    TrainingSet,
    get_scorer,
    load_scorer,
    register_scorer,
    scorer_names,
)

__all__ = ["Query", "Recommendation", "Scorer", "TrainingSet", "get_scorer", "load_scorer", "register_scorer", "scorer_names"]
