"""Image features: CNN backbones (registry), cached batch extraction, ImageNet -> keyword tags."""
from engine.features.backbones import Backbone, backbone_names, get_backbone, register_backbone
from engine.features.cache import FeatureCache, content_hash
from engine.features.extract import Extraction, ExtractReport, extract_features
from engine.features.table import FeatureTable
from engine.features.tags import ImageNetTagger, load_hypernyms, top_keywords

__all__ = ["Backbone", "backbone_names", "get_backbone", "register_backbone", "FeatureCache", "content_hash",
           "Extraction", "ExtractReport", "extract_features", "FeatureTable", "ImageNetTagger", "load_hypernyms",
           "top_keywords"]
