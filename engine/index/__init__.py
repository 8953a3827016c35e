"""Retrieval indexes built once at fit: image kNN (exact / HNSW / IVF via faiss), each training image's nearest
songs, and an inverted keyword -> songs index. Each has fit/build, save(dir) and load(dir)."""
from engine.index.image import ImageIndex
from engine.index.keywords import KeywordIndex
from engine.index.song_lists import SongLists

__all__ = ["ImageIndex", "KeywordIndex", "SongLists"]
