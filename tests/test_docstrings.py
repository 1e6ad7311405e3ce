"""The examples in every module's docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import imgrad

MODULES = sorted(m.name for m in pkgutil.iter_modules(imgrad.__path__) if m.name != "__main__")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(f"imgrad.{name}")
    result = doctest.testmod(
        module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS, report=False
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_public_modules_have_examples():
    for name in ("derivatives", "magphase", "pipeline", "execute", "io", "visualize"):
        module = importlib.import_module(f"imgrad.{name}")
        assert doctest.testmod(module, report=False).attempted >= 4, name
