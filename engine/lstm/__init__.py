"""Attention bi-LSTM (image2song, Zhou et al.): lyric -> tag space, word vectors from our own LINE engine."""
from engine.lstm.dataset import PairSet, encode_lyrics, keyword_pairs, tag_word_ids
from engine.lstm.device import pick_device
from engine.lstm.losses import pair_loss
from engine.lstm.model import TagAttentionBiLSTM, masked_softmax, top_tag_words
from engine.lstm.train import LyricTagModel
from engine.lstm.wordvectors import WordVectors, cooccurrence_network, load_word_vectors, train_word_vectors

__all__ = [
           "LyricTagModel",
           "PairSet",
           "TagAttentionBiLSTM",
           "WordVectors",
           "cooccurrence_network",
           "encode_lyrics",
           "keyword_pairs",
           "load_word_vectors",
           "masked_softmax",
           "pair_loss",
           "pick_device",
           "tag_word_ids",
           "top_tag_words",
           "train_word_vectors",
]
