"""Image features: CNN backbones (registry), cached batch extraction, ImageNet -> keyword tags."""
from engine.features.backbones import Backbone, backbone_names, get_backbone, register_backbone
from engine.features.cache import FeatureCache, content_hash
from engine.features.extract import Extraction, ExtractReport, extract_features
from engine.features.table import FeatureTable
from engine.features.tags import ImageNetTagger, load_hypernyms, top_keywords

__all__ = ["Backbone", "ExtractReport", "Extraction", "FeatureCache", "FeatureTable", "ImageNetTagger",
           "backbone_names", "content_hash", "extract_features", "get_backbone", "load_hypernyms",
           "register_backbone", "top_keywords"]
