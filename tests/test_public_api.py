"""Every public name of `tfmtl.layers` is loadable and documented (STYLE.md §1, §3, §4)."""

import doctest
import inspect
import re
from unittest import mock

import keras
import numpy as np
import pytest

import tfmtl
import tfmtl.layers

NAMES = sorted(tfmtl.layers.__all__)
CLASSES = [n for n in NAMES if inspect.isclass(getattr(tfmtl.layers, n))]
FUNCTIONS = [n for n in NAMES if n not in CLASSES]
MAX_PARAMETERS = 7


def _parameters(cls) -> list[str]:
    """`cls.__init__`'s parameters, without self, *args and **kwargs."""
    if cls.__init__ is keras.layers.Layer.__init__:
        return []  # no constructor of its own: only the Keras layer's arguments
    signature = inspect.signature(cls.__init__)
    return [
        p.name
        for p in signature.parameters.values()
        if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def _section(doc: str, title: str) -> str:
    """The body of docstring section `title:` (its indented lines), or "" when missing."""
    match = re.search(rf"^([ \t]*){title}:[ \t]*\n((?:\1[ \t]+\S.*\n|[ \t]*\n)*)", doc + "\n", re.M)
    return match.group(2) if match else ""


def _doc(name: str) -> str:
    return inspect.getdoc(getattr(tfmtl.layers, name)) or ""


@pytest.mark.parametrize("name", CLASSES)
def test_class_is_registered_serializable(name):
    cls = getattr(tfmtl.layers, name)
    assert keras.saving.get_registered_object(f"tfmtl>{name}") is cls, (
        f"{name} is not registered: decorate it with "
        "@keras.saving.register_keras_serializable(package='tfmtl')"
    )


@pytest.mark.parametrize("name", CLASSES)
def test_docstring_args_name_every_parameter(name):
    args = _section(_doc(name), "Args")
    documented = set(re.findall(r"^[ \t]+(\w+):", args, re.M))
    missing = [p for p in _parameters(getattr(tfmtl.layers, name)) if p not in documented]
    assert not missing, f"{name}'s docstring `Args:` lacks {missing}"


@pytest.mark.parametrize("name", CLASSES)
def test_docstring_has_returns(name):
    assert _section(_doc(name), "Returns").strip(), f"{name}'s docstring has no `Returns:`"


@pytest.mark.parametrize("name", NAMES)
def test_docstring_has_an_example(name):
    doc = _doc(name)
    assert re.search(r"^\s*Example:", doc, re.M), f"{name}'s docstring has no `Example:`"
    assert ">>>" in doc.split("Example:", 1)[-1], f"{name}'s `Example:` has no `>>>` line"


@pytest.mark.parametrize("name", CLASSES)
def test_at_most_seven_parameters(name):
    parameters = _parameters(getattr(tfmtl.layers, name))
    assert len(parameters) <= MAX_PARAMETERS, (
        f"{name}.__init__ takes {len(parameters)} parameters {parameters}; "
        f"at most {MAX_PARAMETERS} are allowed"
    )


@pytest.mark.parametrize("name", CLASSES)
def test_get_config_has_every_parameter(name):
    instance = _small_instance(name)
    missing = [p for p in _parameters(type(instance)) if p not in instance.get_config()]
    assert not missing, f"{name}.get_config() lacks {missing}"


def _small_instance(name: str):
    """The first instance of class `name` that its docstring's `Example:` makes."""
    cls = getattr(tfmtl.layers, name)
    made = []
    original = cls.__init__

    def recording_init(self, *args, **kwargs):
        made.append(self)
        original(self, *args, **kwargs)

    namespace = {"np": np, "keras": keras, "tfmtl": tfmtl}
    with mock.patch.object(cls, "__init__", recording_init):
        for test in doctest.DocTestFinder(recurse=False).find(cls, name, globs=namespace):
            for example in test.examples:
                exec(compile(example.source, f"<{name} example>", "exec"), test.globs)
    if not made:
        raise AssertionError(f"{name}'s `Example:` makes no {name} to read a config from")
    return made[0]
