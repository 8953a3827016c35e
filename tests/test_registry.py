"""The shared registry behind backbones, scorers and LINE implementations."""
from __future__ import annotations

import pytest

from engine.features.backbones import backbone_names
from engine.line.impls import get_impl, impl_names
from engine.registry import Registry
from engine.scorers.base import scorer_names
from graph.common.errors import Img2SongError


def test_register_get_and_unknown_name():
    reg: Registry = Registry("widget")

    @reg.register("a")
    class A:
        pass

    assert reg.get("a") is A and A.name == "a" and reg.names() == ["a"]
    with pytest.raises(Img2SongError, match=r"unknown widget 'b'; known: a"):
        reg.get("b")


def test_a_second_class_under_a_taken_name_is_refused():
    reg: Registry = Registry("widget")
    reg.register("a")(type("A", (), {}))
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("a")(type("B", (), {}))


def test_lazy_names_load_their_module_and_missing_modules_are_clear():
    reg: Registry = Registry("widget", lazy={"gone": "engine.no_such_module"})
    assert reg.names() == ["gone"]
    with pytest.raises(Img2SongError, match="widget 'gone' is not available here"):
        reg.get("gone")
    assert get_impl("reference").name == "reference"  # registered on first use by engine.line.reference


def test_built_in_names():
    assert {"ne", "km", "pop", "lstm"} <= set(scorer_names())
    assert {"efficientnet-lite0", "vgg19"} <= set(backbone_names())
    assert {"reference", "cpu", "naive", "triton"} <= set(impl_names())
