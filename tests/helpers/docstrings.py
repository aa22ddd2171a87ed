"""The docstring rules every model folder follows (one style: purpose, Args/Returns, Example), as two checks."""

import doctest
import importlib


def check_examples_run(name: str) -> None:
    """The module's docstring examples run as written, and it has some."""
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0


def check_public_names_have_examples(name: str) -> None:
    """Every public class and function defined in the module has an ``Example`` in its docstring."""
    module = importlib.import_module(name)
    for attribute, value in vars(module).items():
        if attribute.startswith("_") or getattr(value, "__module__", None) != name:
            continue
        if isinstance(value, type) or callable(value):
            assert value.__doc__ and "Example" in value.__doc__, f"{name}.{attribute} needs a docstring example"
