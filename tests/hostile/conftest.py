"""Fixtures of the hostile-input suites."""

import pytest


@pytest.fixture(scope="module")
def ckpt(imported_tiny1):
    """A small real checkpoint (fairseq's tiny1 model imported) to translate and corrupt."""
    return imported_tiny1
