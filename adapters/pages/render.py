"""One self-contained HTML file per page: Jinja2 templates (package data) with autoescaping.

Everything a page needs is inside it: styles inline, charts inline SVG, no script, no font,
no image, no link to fetch. ``external_references`` finds anything that would reach out, and
``write_page`` refuses to write a page that has one.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from engagement_tracker.domain.errors import InvalidInput, StoreError

_ENV = Environment(
    loader=PackageLoader("engagement_tracker.adapters.pages", "templates"),
    autoescape=select_autoescape(["html", "j2"], default=True),
    undefined=StrictUndefined,  # a missing value is a bug in the page, never a blank
    trim_blocks=True,
    lstrip_blocks=True,
)

#: Elements that load something, attributes that point somewhere, CSS that imports or fetches.
_LOADING_TAGS = frozenset({"link", "script", "img", "iframe", "frame", "object", "embed", "base", "audio", "video",
                           "source", "track", "image", "feimage", "form", "meta"})
_POINTING = frozenset({"src", "href", "xlink:href", "action", "formaction", "poster", "data", "srcset", "background",
                       "ping", "manifest", "codebase", "cite", "longdesc", "http-equiv"})
_CSS_FETCH = re.compile(r"url\(\s*(?![\"']?#)|@import|image-set\(", re.IGNORECASE)
#: The one meta element a page may carry besides its charset and viewport.
_META_OK = frozenset({"charset", "name", "content"})


class _Outward(HTMLParser):
    """Collects every element, attribute and style rule of a page that would make a browser reach out
    (text is not looked at: an escaped address in a note is text, never fetched)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        if tag in _LOADING_TAGS and not (tag == "meta" and {a for a, _ in attrs} <= _META_OK):
            self.found.append(f"<{tag}>")
        for name, raw in attrs:
            value = raw or ""
            if name in _POINTING and not value.startswith("#"):
                self.found.append(f"{tag} {name}={value!r}")
            if name == "style" and _CSS_FETCH.search(value):
                self.found.append(f"{tag} style={value!r}")
            if name.startswith("on"):
                self.found.append(f"{tag} {name} (script)")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        self._in_style = False

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style and _CSS_FETCH.search(data):
            self.found.append(f"<style> {data.strip()[:60]!r}")


def label(text: object) -> str:
    """'learning_dip' -> 'learning dip'."""
    return str(text).replace("_", " ")


_ENV.filters["label"] = label


def render(template: str, **context: Any) -> str:
    """A page from its template; every value is escaped unless it is one of our charts (Markup)."""
    return _ENV.get_template(template).render(**context)


def chart(svg: str) -> Markup:
    """Mark a chart made by ``charts`` as safe to place as it is (its text is matplotlib's own escaping)."""
    return Markup(svg)  # noqa: S704  (only SVG produced by charts.svg_of comes through here)


def external_references(html: str) -> list[str]:
    """Every piece of the page that would make a browser reach out (empty for a self-contained page)."""
    parser = _Outward()
    parser.feed(html)
    parser.close()
    return parser.found


def write_page(html: str, out: str | Path) -> Path:
    """Write the page to ``out``; refused (nothing written) if it refers to anything outside itself."""
    found = external_references(html)
    if found:
        raise StoreError(f"the page refers to something outside itself ({found[0]!r}); nothing written")
    path = check_out(out)
    path.write_text(html, encoding="utf-8")
    return path


def check_out(out: str | Path) -> Path:
    """``out`` as a path a page can be written to: a file in an existing directory."""
    path = Path(out)
    if path.is_dir():
        raise InvalidInput("out", f"{path} is a directory: give a file name, e.g. report.html")
    if not path.parent.exists():
        raise InvalidInput("out", f"{path.parent} does not exist: give a file in an existing directory")
    return path
