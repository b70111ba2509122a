"""nmt: convolutional and quasi-recurrent neural machine translation.

The public Python API (see docs/api.md): ``nmt.load(path, precision=..., threads=...)`` returns a
:class:`nmt.Model` with ``translate`` and ``translate_nbest``. They are imported on first use, so
``import nmt`` stays light.
"""

__version__ = "0.1.0"
__all__ = ["load", "Model", "Translation", "NmtError", "__version__"]

_API = {"load", "Model", "Translation"}


def __getattr__(name: str):
    if name in _API:
        from nmt import api

        return getattr(api, name)
    if name == "NmtError":
        from nmt.errors import NmtError

        return NmtError
    raise AttributeError(f"module 'nmt' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
