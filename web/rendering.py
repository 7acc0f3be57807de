"""One template per screen; HTMX requests get one named block of it rendered alone,
so the full page and the fragment are the same markup and cannot drift apart."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from jinja2 import pass_context

from litestar import MediaType, Request, Response
from litestar.plugins.htmx import ClientRedirect, HTMXRequest, TriggerEvent
from litestar.response import Template
from litestar.status_codes import HTTP_200_OK

from core.i18n import current_language
from web.leichte_sprache import template_for


def render_block(request: Request, template_name: str, block: str, context: dict[str, Any]) -> str:
    template = request.app.template_engine.get_template(template_name)
    full_context = Template(template_name=template_name, context=context).create_template_context(request)
    return "".join(template.blocks[block](template.new_context(full_context)))


def fragment(
    request: Request, template_name: str, block: str, context: dict[str, Any], status_code: int = 200,
    headers: dict[str, str] | None = None, trigger: str | None = None,
) -> Response:
    """The block alone; `trigger` names a client event htmx fires when the response arrives."""
    content = render_block(request, template_name, block, context)
    headers = {"Vary": "HX-Request", **(headers or {})}
    if trigger:
        response = TriggerEvent(content, name=trigger, after="receive", media_type=MediaType.HTML, status_code=status_code)
        response.headers.update(headers)
        return response
    return Response(content, media_type=MediaType.HTML, status_code=status_code, headers=headers)


class RenderedMemo:
    """Rendered HTML kept per place (for a table page: the language and the instances it
    shows) together with what it was made from (the rows as read). It is handed out only
    for a source equal to that one, so an entry cannot go stale: a changed row renders
    anew and takes the place over. The least recently used place goes when `capacity` is
    reached. One per app; the event loop uses it with nothing awaited between looking up
    and storing. (OrderedDict does least-recently-used in a few lines; no library needed.)

    The place is a cheap key and the source is compared, not hashed: a page's rows hold
    150 aware datetimes, and hashing those (each converted to UTC first) cost more than
    comparing them with the ones kept."""

    def __init__(self, capacity: int):
        self._capacity = capacity
        self._entries: OrderedDict[Hashable, tuple[Any, str]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, place: Hashable, source: Any) -> str | None:
        kept = self._entries.get(place)
        if kept is None or kept[0] != source:
            return None
        self._entries.move_to_end(place)
        return kept[1]

    def put(self, place: Hashable, source: Any, html: str) -> None:
        self._entries[place] = (source, html)
        self._entries.move_to_end(place)
        if len(self._entries) > self._capacity:
            self._entries.popitem(last=False)


class PageTemplate(Template):
    """A screen's template, or its whole-page version in the request's language where one
    exists (Leichte Sprache, web/leichte_sprache.py): chosen here, once, not in every handler."""

    def to_asgi_response(self, app, request: Request, **kwargs: Any):
        if self.template_name:
            # The request's language, set by web/i18n.py before the handler ran.
            self.template_name = template_for(self.template_name, current_language())
        return super().to_asgi_response(app, request, **kwargs)


def page(
    template_name: str, context: dict[str, Any], status_code: int = 200, headers: dict[str, str] | None = None
) -> Template:
    return PageTemplate(template_name, context=context, status_code=status_code, headers={"Vary": "HX-Request", **(headers or {})})


def wants_fragment(request: HTMXRequest) -> bool:
    """HTMX asked for part of a page; boosted links and history restores get the page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def client_redirect(target: str) -> Response:
    """htmx loads `target` as a new page. ClientRedirect leaves the status to the handler,
    which is 201 for a POST; htmx and the tests expect the 200 its docstring promises."""
    response = ClientRedirect(target)
    response.status_code = HTTP_200_OK
    return response


# Routes whose path parameters name a file of the app: with the parameterless routes a
# fixed set of URLs, as many as the templates name.
_FILE_ROUTES = frozenset({"static", "companion_static"})


@pass_context
def url_for(context, route_name: str, **path_parameters: Any) -> str:
    """Litestar's template `url_for`, remembered per app for fixed URLs: a route's URL never
    changes while the app runs, and route_reverse cost ~20 us for each of the ~25 links of
    a page (header, footer, scripts). URLs with ids or tokens are built each time: none is kept."""
    app = context["request"].app
    if path_parameters and route_name not in _FILE_ROUTES:
        return app.route_reverse(route_name, **path_parameters)
    return fixed_url(app, route_name, **path_parameters)


def fixed_url(app, route_name: str, **path_parameters: Any) -> str:
    """A URL that never changes while the app runs (no id, no token), reversed once per app."""
    key = (route_name, *sorted(path_parameters.items()))
    urls = app.state.template_urls
    url = urls.get(key)
    if url is None:
        url = urls[key] = app.route_reverse(route_name, **path_parameters)
    return url
