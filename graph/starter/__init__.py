"""Maintainer scripts that build the shipped starter corpus (data/starter) from registry packages in raw/."""
