"""Finding a request's route in one step instead of one router after another (decision 0103).

The app includes each resource's router in turn (`routes.ROUTERS`, then the pages'). FastAPI
matches a request against them in that order, and asking an included router whether it matches
walks every route it holds: a request to one of the last routers paid for every router before
it (`POST /v1/ping`, 29th, spent about half of its CPU there).

`FirstByPath` goes first in the app's routes. It keeps one regular expression that joins the
paths of every route the app holds, grouped by the top-level entry that holds them, in the
app's order: one match finds the first entry that serves the request's path at all. Every entry
before it cannot match (none of its paths does), so when that entry, an included router,
matches fully it is the one FastAPI would have chosen, and the request goes to it. In every
other case (no entry serves the path, the method is not one it serves, the entry is a route or
mount of the app itself, whose path FastAPI notes as it picks it) `FirstByPath` answers no
match, and FastAPI's own walk goes on from the start as before: a 404, a 405 and a redirect to
the path with or without its trailing slash come out as they always did.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import Receive, Scope, Send

_SELECTED = "jeton.first_by_path"
_ANY_PATH = ".*"  # an entry whose paths are not all known: it may serve any path
_GROUP_NAME = re.compile(r"\(\?P<\w+>")


def _paths(entry: BaseRoute) -> str:
    """One pattern for every path `entry` serves (its routes' own, without their group names,
    which would clash once joined), or `_ANY_PATH`."""
    patterns = []
    for route in iter_route_contexts([entry]):
        regex = getattr(route, "path_regex", None)
        if regex is None:
            return _ANY_PATH
        patterns.append(_GROUP_NAME.sub("(?:", regex.pattern))
    return "|".join(patterns) or "(?!)"  # an entry with no routes serves no path


class FirstByPath(BaseRoute):
    """The first of the app's `entries` whose routes serve the request's path, when it
    matches the request fully; otherwise no match, and FastAPI walks the entries itself."""

    def __init__(self, entries: list[BaseRoute]) -> None:
        self.entries = list(entries)
        self.first = re.compile("|".join(f"(?P<e{i}>{_paths(entry)})"
                                         for i, entry in enumerate(self.entries)))

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        found = self.first.match(get_route_path(scope))
        if found is None or found.lastgroup is None:
            return Match.NONE, {}
        entry = self.entries[int(found.lastgroup[1:])]
        if getattr(entry, "path_format", None) is not None:
            # A route or mount of the app itself (the OpenAPI document, the docs, the static
            # files): FastAPI's walk reaches it and notes its path for telemetry as before.
            return Match.NONE, {}
        match, child_scope = entry.matches(scope)
        if match != Match.FULL:
            return Match.NONE, {}
        return Match.FULL, {**child_scope, _SELECTED: entry}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await scope.pop(_SELECTED).handle(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)  # names belong to the entries themselves


def install(app: FastAPI) -> FirstByPath:
    """Put `FirstByPath` in front of the app's routes, once they are all in (`create_app`'s
    last step: a route added later would not be in its expression)."""
    routes = app.router.routes
    first = FirstByPath([r for r in routes if not isinstance(r, FirstByPath)])
    routes[:] = [first, *first.entries]
    return first
