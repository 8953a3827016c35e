"""NE scorer (the paper's retrieval): CNN-nearest training images, then each one's NE-nearest songs."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.index.image import ImageIndex
from engine.index.song_lists import SongLists
from engine.scorers.base import Query, Recommendation, Scorer, TrainingSet, register_scorer
from graph.common.errors import Img2SongError
from graph.network import Kind, vertex_id


def query_features(query: Query, table, scorer: str) -> np.ndarray:
    """The query's CNN vector: given on the query, else looked up by image id in the run's feature table."""
    if query.features is not None:
        return np.asarray(query.features, dtype=np.float64).reshape(-1)
    if table is not None and query.image_id is not None and query.image_id in table:
        return np.asarray(table[query.image_id], dtype=np.float64)
    raise Img2SongError(f"scorer '{scorer}' needs CNN features for image {query.image_id or query.path}: "
                        "run `img2song features --run DIR` first (or pass Query.features)")


@register_scorer("ne")
class NEScorer(Scorer):
    """n_images nearest training images (Euclidean, CNN space) x songs_per_image nearest songs (Euclidean, NE space).

    Duplicate songs are skipped and backfilled: first by the same image's next-nearest songs, then by further
    images (6th, 7th, ...), then round-robin over all fetched images until k songs are found.

    Fit builds the retrieval state once: an ImageIndex over the training images' CNN features (`index`: exact up
    to `exact_max` images, HNSW above, or forced "exact" / "hnsw" / "ivf") and SongLists, every training image's
    songs_per_image + max_k nearest songs (exact); a query is one image kNN plus lookups (k > max_k still works:
    the longer lists are computed exactly on demand).
    """

    def __init__(self, n_images: int = 5, songs_per_image: int = 2, knn_method: str = "auto", index: str = "auto",
                 exact_max: int = 50_000, max_k: int = 20) -> None:
        self.n_images = n_images
        self.songs_per_image = songs_per_image
        self.knn_method = knn_method
        self.index = index
        self.exact_max = exact_max
        self.max_k = max_k

    def fit(self, data: TrainingSet) -> NEScorer:
        if data.features is None:
            raise Img2SongError("scorer 'ne' needs CNN features: run `img2song features --run DIR` first")
        if data.embeddings is None:
            raise Img2SongError("scorer 'ne' needs NE embeddings (embeddings.npz in the run): train LINE first")
        emb, feats = data.embeddings, data.features
        skipped = {"training image without CNN features": 0, "training image without NE vector": 0}
        ids: list[str] = []
        for i in data.train_image_ids:
            if i not in feats:
                skipped["training image without CNN features"] += 1
            elif vertex_id(Kind.IMAGE, i) not in emb:
                skipped["training image without NE vector"] += 1
            else:
                ids.append(i)
        if not ids:
            raise Img2SongError("scorer 'ne': no training image has both CNN features and an NE vector")
        songs = [data.network.ids[j] for j in data.network.of_kind(Kind.SONG)]
        songs = [v for v in songs if v in emb]
        if not songs:
            raise Img2SongError("scorer 'ne': the embedding table holds no song vectors")
        self.skipped_ = {k: v for k, v in skipped.items() if v}
        return self.fit_arrays(ids, np.stack([feats[i] for i in ids]),
                               np.stack([emb[vertex_id(Kind.IMAGE, i)] for i in ids]),
                               [v[len("song:"):] for v in songs], np.stack([emb[v] for v in songs]), feats)

    def fit_arrays(self, image_ids: Sequence[str], image_features: np.ndarray, image_vectors: np.ndarray,
                   song_ids: Sequence[str], song_vectors: np.ndarray, features=None, progress: bool = False,
                   song_list_rows: Sequence[int] | None = None) -> NEScorer:
        """Fit from tables: training images' CNN features and NE vectors (rows of image_ids), songs' NE vectors.

        `song_list_rows` limits the song lists computed now to those image rows (default all; the rest are
        computed exactly on first use): for benchmarks whose full precomputation would not fit their time.
        """
        self.image_ids_ = list(image_ids)
        self.image_features_ = np.ascontiguousarray(image_features, dtype=np.float32)
        self.image_vectors_ = np.ascontiguousarray(image_vectors, dtype=np.float32)
        self.song_ids_ = list(song_ids)
        self.song_vectors_ = np.ascontiguousarray(song_vectors, dtype=np.float32)
        self.features_ = features
        if not hasattr(self, "skipped_"):
            self.skipped_ = {}
        self.image_index_ = ImageIndex(method=self.index, exact_max=self.exact_max,
                                       knn_method=self.knn_method).fit(self.image_features_)
        self.song_lists_ = SongLists(m=self.songs_per_image + self.max_k, knn_method=self.knn_method).fit(
            self.image_vectors_, self.song_vectors_, rows=song_list_rows, progress=progress)
        return self

    def recommend(self, query: Query, k: int = 10) -> list[Recommendation]:
        return self.recommend_batch([query], k)[0]

    def recommend_batch(self, queries: Sequence[Query], k: int = 10) -> list[list[Recommendation]]:
        """All queries' image neighbours in one kNN call, then per query the song lists of its neighbours."""
        self._check_fitted("song_vectors_")
        if not queries:
            return []
        rows = [query_features(q, self.features_, self.name) for q in queries]
        for q, f in zip(queries, rows):
            if f.shape[0] != self.image_features_.shape[1]:
                raise Img2SongError(f"scorer 'ne': features of {q.image_id or q.path} have dimension {f.shape[0]}, "
                                    f"the run's {self.image_features_.shape[1]} (another backbone?)")
        feats = np.stack(rows)
        n_fetch = min(len(self.image_ids_), self.n_images + k)
        d_img, i_img = self.image_index_.search(feats, n_fetch)
        n_songs = min(len(self.song_ids_), self.songs_per_image + k)
        lists = self.song_lists_.get(i_img[i_img >= 0], n_songs)
        return [self._assemble(d_img[j][i_img[j] >= 0], i_img[j][i_img[j] >= 0], lists, n_songs, k)
                for j in range(len(queries))]

    def _assemble(self, d_img: np.ndarray, i_img: np.ndarray, lists: dict, n_songs: int,
                  k: int) -> list[Recommendation]:
        song_d = [lists[int(r)][0][:n_songs] for r in i_img]
        song_i = [lists[int(r)][1][:n_songs] for r in i_img]
        pointer = [0] * len(i_img)
        chosen: list[tuple[int, int, float]] = []  # (song row, image rank, NE distance)
        seen: set[int] = set()

        def take(r: int, quota: int) -> None:
            got = 0
            while got < quota and len(chosen) < k and pointer[r] < len(song_i[r]):
                s, dist = int(song_i[r][pointer[r]]), float(song_d[r][pointer[r]])
                pointer[r] += 1
                if s not in seen:
                    seen.add(s)
                    chosen.append((s, r, dist))
                    got += 1

        for r in range(len(i_img)):  # the first n_images, then further images, each with the same quota
            if len(chosen) >= k:
                break
            take(r, self.songs_per_image)
        while len(chosen) < k and any(p < len(row) for p, row in zip(pointer, song_i)):
            for r in range(len(i_img)):
                take(r, 1)
        out = []
        for pos, (s, r, dist) in enumerate(chosen):
            img = self.image_ids_[int(i_img[r])]
            out.append(Recommendation(
                self.song_ids_[s], 1.0 / (1 + pos),
                f"near image {img} (CNN distance {d_img[r]:.3f}, neighbour #{r + 1}); "
                f"NE distance image-song {dist:.3f}",
                {"image": img, "neighbour": r + 1, "cnn_distance": round(float(d_img[r]), 4),
                 "ne_distance": round(dist, 4)}))
        return out
