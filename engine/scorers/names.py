"""SCORERS: scorer classes by name (built-ins from engine.scorers.all, plug-ins by register_scorer or entry point).

Its own module so that persist.py (which looks a saved scorer's class up by name) and base.py (the Scorer that
saves through persist.py) import it without importing each other.
"""
from __future__ import annotations

from engine.registry import Registry

SCORERS: Registry = Registry("scorer", load_all="engine.scorers.all", entry_points="img2song.scorers")
