"""What a request may hold, checked before any work: the body (JSON or a form), ``q`` (a string
or a list of strings), the language pair, the search options and the size limits. Every problem
is an :class:`ApiError` with an HTTP status and a one-line message, answered as
``{"error": "..."}`` in LibreTranslate's manner."""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.requests import Request


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Limits:
    """Bounds on one request (``nmt serve`` options)."""

    max_chars: int = 20_000  # all of q together
    max_line_chars: int = 2_000  # one line of q
    max_body_bytes: int = 1 << 20
    max_beam: int = 32
    max_nbest: int = 10
    timeout: float = 60.0  # seconds from arrival to answer


JSON_TYPES = ("application/json", "text/json")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def read_params(request: Request, limits: Limits) -> dict:
    """The request's parameters from a JSON object or a form (a repeated form field is a list)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise ApiError(413, f"the request body is larger than {limits.max_body_bytes} bytes")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in FORM_TYPES:
        try:
            form = await request.form()
        except Exception:
            raise ApiError(400, "Invalid request: the form cannot be parsed") from None
        return {key: (values if len(values := form.getlist(key)) > 1 else values[0])
                for key in form.keys()}
    body = await request.body()
    if len(body) > limits.max_body_bytes:
        raise ApiError(413, f"the request body is larger than {limits.max_body_bytes} bytes")
    try:
        params = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "Invalid request: the body is not UTF-8") from None
    except json.JSONDecodeError:
        raise ApiError(400, "Invalid request: the body is not valid JSON "
                            "(send JSON or a form with Content-Type set)") from None
    if not isinstance(params, dict):
        raise ApiError(400, "Invalid request: the JSON body must be an object")
    return params


def texts(params: dict, limits: Limits) -> tuple[list[str], bool]:
    """``q`` as a list of strings, and whether it came as a list."""
    q = params.get("q")
    if q is None or q == "" or q == []:
        raise ApiError(400, "Invalid request: missing q parameter")
    as_list = isinstance(q, list)
    items = q if as_list else [q]
    if not all(isinstance(item, str) for item in items):
        raise ApiError(400, "Invalid request: q must be a string or a list of strings")
    if sum(len(item) for item in items) > limits.max_chars:
        raise ApiError(413, f"q has more than {limits.max_chars} characters; split the request")
    if any(len(line) > limits.max_line_chars for item in items for line in item.split("\n")):
        raise ApiError(413, f"a line of q has more than {limits.max_line_chars} characters")
    return items, as_list


def prefixes(params: dict, items: list[str], as_list: bool, limits: Limits) -> list[str] | None:
    """``prefix``: where each item's translation must start; a string for a string ``q``, a
    list of strings ('' for none) as long as a list ``q``; None when not given."""
    value = params.get("prefix")
    if value is None or value == "":
        return None
    given = value if as_list else [value]
    if not isinstance(given, list) or not all(isinstance(p, str) for p in given):
        raise ApiError(400, "Invalid request: prefix must be a string (a list of strings for a "
                            "list q)")
    if len(given) != len(items):
        raise ApiError(400, f"Invalid request: {len(given)} prefixes for {len(items)} texts in q")
    if any(len(p) > limits.max_line_chars or "\n" in p for p in given):
        raise ApiError(400, f"Invalid request: a prefix is one line of at most "
                            f"{limits.max_line_chars} characters")
    return given


def integer(params: dict, name: str, default: int, low: int, high: int) -> int:
    """An integer option within [low, high] (a form sends it as digits)."""
    value = params.get(name, default)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(400, f"Invalid request: {name} must be an integer")
    if not low <= value <= high:
        raise ApiError(400, f"Invalid request: {name} must be between {low} and {high}")
    return value


def number(params: dict, name: str, default: float, low: float, high: float) -> float:
    value = params.get(name, default)
    try:
        value = float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else None
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ApiError(400, f"Invalid request: {name} must be a number between {low} and {high}")
    return value


def flag(params: dict, name: str) -> bool:
    value = params.get(name, False)
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes", "on")
    if not isinstance(value, bool):
        raise ApiError(400, f"Invalid request: {name} must be true or false")
    return value


def language(params: dict, name: str) -> str:
    value = params.get(name)
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"Invalid request: missing {name} parameter")
    return value
