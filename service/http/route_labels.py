"""BentoML's HTTP metrics labelled by route template, never by the raw request path.

BentoML's ``RunnerTrafficMetricsMiddleware`` puts ``scope["path"]`` in the ``endpoint`` label,
so every ``GET /audits/<id>`` and every unknown path would add series to ``/metrics`` (without
bound, and with request ids readable by anyone who can scrape). The subclass below hands the
parent a copy of the scope whose path is the route template (``/audits/{request_id}``) or
``UNMATCHED``, and runs the application itself with the real scope.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from bentoml._internal.server.http import instruments
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

UNMATCHED = "<unmatched>"
ORIGINAL_SCOPE = "grounding.original_scope"
# routes BentoML serves itself, beside the mounted FastAPI app
SYSTEM_PATHS = ("/", "/livez", "/healthz", "/readyz", "/metrics", "/docs.json")
SYSTEM_PREFIXES = {"/static_content/": "/static_content/{path}"}


def flatten(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, including those of routers included in the app (FastAPI wraps them)."""
    for route in routes:
        included = getattr(route, "original_router", None)
        yield from flatten(included.routes) if included is not None else (route,)


class RouteTemplates:
    """Maps a request path to the template of the route that serves it."""

    def __init__(self, routes: Sequence[BaseRoute], system_paths: Iterable[str] = SYSTEM_PATHS):
        self._routes = routes
        self._patterns: list[tuple[re.Pattern[str], str]] | None = None
        self._exact = set(system_paths)

    def _compiled(self) -> list[tuple[re.Pattern[str], str]]:
        if self._patterns is None:  # on first use: every route is declared by then
            self._patterns = [
                (route.path_regex, route.path)
                for route in flatten(self._routes)
                if isinstance(getattr(route, "path_regex", None), re.Pattern)
                and isinstance(getattr(route, "path", None), str)
            ]
        return self._patterns

    def template(self, path: str) -> str:
        if path in self._exact:
            return path
        for pattern, template in self._compiled():
            if pattern.match(path):
                return template
        for prefix, template in SYSTEM_PREFIXES.items():
            if path.startswith(prefix):
                return template
        return UNMATCHED


class RouteTemplateTrafficMetrics(instruments.RunnerTrafficMetricsMiddleware):
    """BentoML's traffic metrics with the route template as ``endpoint``."""

    templates: RouteTemplates = RouteTemplates([])

    def __init__(self, app: ASGIApp, **kwargs: object) -> None:
        async def with_original_scope(scope: Scope, receive: Receive, send: Send) -> None:
            await app(scope.get(ORIGINAL_SCOPE, scope), receive, send)

        super().__init__(with_original_scope, **kwargs)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await super().__call__(scope, receive, send)
            return
        labelled = {**scope, "path": self.templates.template(scope["path"])}
        labelled[ORIGINAL_SCOPE] = scope
        await super().__call__(labelled, receive, send)


def label_bentoml_metrics_by_route(routes: Sequence[BaseRoute]) -> None:
    """Make BentoML build its traffic-metrics middleware from the subclass above (it imports
    the class from ``instruments`` when it builds the app, after the service module loads)."""
    RouteTemplateTrafficMetrics.templates = RouteTemplates(routes)
    instruments.RunnerTrafficMetricsMiddleware = RouteTemplateTrafficMetrics  # type: ignore[misc]
