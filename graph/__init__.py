"""graph: corpora, keyword extraction and the tripartite image-keyword-song network (imports nothing from engine)."""
