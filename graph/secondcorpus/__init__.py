"""Maintainer script for a second corpus from sources the starter does not use (see README.md here)."""
