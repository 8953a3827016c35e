"""Maintainer builder of data/english: public-domain English poems from PyPI packages, English-tagged images."""
