"""The public surface: every exported name resolves and explains itself."""

from __future__ import annotations

import inspect

import pytest

import symbl_dagster


def test_every_public_name_resolves_and_has_a_docstring() -> None:
    undocumented = []
    for name in symbl_dagster.__all__:
        value = getattr(symbl_dagster, name)
        if (inspect.isclass(value) or inspect.isfunction(value)) and not inspect.getdoc(value):
            undocumented.append(name)
    assert undocumented == []


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        symbl_dagster.NoSuchThing  # noqa: B018
