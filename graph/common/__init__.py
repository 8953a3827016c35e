"""Utilities every layer shares (errors, atomic writes, skip counts, cache paths); imports nothing of the project.

It sits inside `graph/` only because the top-level layout is fixed: graph is the bottom of the import flow.
"""
