"""Server-rendered pages: the Jinja2 environment, languages and CSRF."""

import base64
import hmac
import re
import secrets
from collections.abc import Callable, Mapping, MutableMapping
from datetime import date, datetime
from functools import lru_cache
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from babel.core import negotiate_locale
from babel.dates import format_date, format_skeleton, format_time, get_timezone_location
from fastapi import Depends, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import (
    Environment,
    FileSystemLoader,
    Template,
    nodes,
    pass_context,
    pass_environment,
    select_autoescape,
)
from jinja2.runtime import Context, Macro
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, escape

from aftercare.i18n import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES, gettext_for, text_direction
from aftercare.settings import FRONTEND_DIR

CSRF_COOKIE = "csrf"
CSRF_FIELD = "csrf_token"
# The sessions a form token is bound to: a nurse's console, a patient's phone.
CONSOLE_COOKIE = "console"
SESSION_COOKIE = "session"


@pass_context
def _gettext(context: Context, message: str) -> str:
    return gettext_for(context.get("lang", DEFAULT_LANGUAGE)).gettext(message)


@pass_context
def _ngettext(context: Context, singular: str, plural: str, count: int) -> str:
    return gettext_for(context.get("lang", DEFAULT_LANGUAGE)).ngettext(singular, plural, count)


@lru_cache(maxsize=4096)
def _sentence(language: str, message: str) -> Markup:
    """A template's sentence without placeholders, made once per language as the i18n
    extension's newstyle gettext makes it each time (formatted even then, so "%%" is "%")."""
    # Our own catalog's text, marked safe as the extension marks it.
    return Markup(gettext_for(language).gettext(message)) % {}  # noqa: S704


@pass_context
def _page_gettext(context: Context, message: str, **variables: Any) -> str:
    """`_()` in a template: the newstyle gettext's result, in one call instead of the
    extension's three (its `_` resolves `gettext`, which calls the catalog's), and a
    sentence without placeholders only once; a page has dozens."""
    language = context.get("lang", DEFAULT_LANGUAGE)
    if not context.eval_ctx.autoescape:
        return gettext_for(language).gettext(message) % variables
    if not variables:
        return _sentence(language, message)
    # Our own catalog's text; the values put into it are escaped by `%`.
    return Markup(gettext_for(language).gettext(message)) % variables  # noqa: S704


class _TranslatedEnvironment(Environment):
    """An environment for one language, whose templates are translated as they are
    compiled: each `_("a sentence")` with a literal becomes the sentence in that language,
    made safe as `_page_gettext` makes it, and `_("... %(name)s ...", name=value)` becomes
    that sentence `%` its values, which escapes them. A page has dozens of these, and
    each call through the template's context cost more than the rest of a line
    (bench/checkins.py, py-spy). `_()` of a variable and `ngettext` stay calls."""

    def __init__(self, language: str, **options: Any) -> None:
        super().__init__(**options)
        self.language = language

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as one plain dict, not Jinja's `ChainMap` over the
        environment's: each render copies them into the page's context and lists their
        names, and walking a `ChainMap` in Python cost Today about a fifth of its
        template (bench/checkins.py, py-spy). The globals are all set before a page is
        loaded, as Jinja asks; `Pages.share_macros`, which adds some after loading their
        file, empties the cache of templates."""
        return {**self.globals, **(d or {})}

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Jinja has no public hook between parsing and compiling; this is where its own
        # `parse` and `compile` meet.
        template = super()._parse(source, name, filename)
        translated: nodes.Template = _Translate(gettext_for(self.language).gettext).visit(template)
        return translated


class _Translate(NodeTransformer):
    def __init__(self, gettext: Callable[[str], str]) -> None:
        self.gettext = gettext

    def visit_Call(self, node: nodes.Call) -> nodes.Node:
        self.generic_visit(node)
        if not (
            isinstance(node.node, nodes.Name)
            and node.node.name in ("_", "gettext")
            and len(node.args) == 1
            and isinstance(node.args[0], nodes.Const)
            and isinstance(node.args[0].value, str)
            and node.dyn_args is None
            and node.dyn_kwargs is None
        ):
            return node
        text = self.gettext(node.args[0].value)
        if not node.kwargs:
            # As the newstyle gettext does: formatted even without values ("%%" is "%").
            return nodes.MarkSafeIfAutoescape(nodes.Const(text % {}), lineno=node.lineno)
        values = [nodes.Pair(nodes.Const(kw.key), kw.value, lineno=kw.lineno) for kw in node.kwargs]
        return nodes.Mod(
            nodes.MarkSafeIfAutoescape(nodes.Const(text), lineno=node.lineno),
            nodes.Dict(values, lineno=node.lineno),
            lineno=node.lineno,
        )


class Pages(Jinja2Templates):
    """The templates, compiled once per language (`_TranslatedEnvironment`); a page is
    rendered by the environment of its context's `lang`."""

    def __init__(self) -> None:
        self.languages = {language: _environment(language) for language in SUPPORTED_LANGUAGES}
        super().__init__(env=self.languages[DEFAULT_LANGUAGE])
        for env in self.languages.values():
            self._setup_env_defaults(env)

    def share_macros(self, name: str) -> None:
        """Make the macros of template `name` globals of every page, in each language.
        A page importing them instead paid, at each render, Jinja's comparison of every
        global name with the module's (`_get_default_module`; bench/checkins.py, py-spy)."""
        for env in self.languages.values():
            module = env.get_template(name).module
            env.globals.update(
                (macro, value) for macro, value in vars(module).items() if isinstance(value, Macro)
            )
            # A template keeps the globals it was loaded with (`make_globals`).
            env.cache.clear()  # type: ignore[union-attr]

    def get_template_in(self, name: str, language: object) -> Template:
        env = self.languages.get(language, self.env) if isinstance(language, str) else self.env
        return env.get_template(name)

    def TemplateResponse(  # type: ignore[override]
        self,
        request: Request,
        name: str,
        context: dict[str, Any] | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> HTMLResponse:
        context = context or {}
        context.setdefault("request", request)
        template = self.get_template_in(name, context.get("lang"))
        return HTMLResponse(template.render(context), status_code, headers)


def _environment(language: str) -> Environment:
    env = _TranslatedEnvironment(
        language,
        loader=FileSystemLoader(FRONTEND_DIR / "templates"),
        autoescape=select_autoescape(),
        # Templates ship with the package and change only with it: no file check per page.
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
    )
    # Each page is rendered in its reader's language, read from the page's context.
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.globals["_"] = env.globals["gettext"] = _page_gettext
    env.globals["text_direction"] = text_direction
    env.globals["fragment"] = _fragments(env)
    env.globals["csrf_slot"] = CSRF_SLOT
    env.filters["with_csrf"] = with_csrf
    env.filters["day_date"] = _day_date
    env.filters["moment"] = _moment
    env.filters["numbers_ltr"] = numbers_ltr
    env.filters["tel"] = tel_uri
    return env


@lru_cache(maxsize=1)
def make_templates() -> Pages:
    """The pages' templates, one set for the whole process."""
    return Pages()


def _fragments(env: Environment) -> Callable[..., Markup]:
    """`fragment(name, **values)` in a template: a part of a page that depends only on the
    values given (the tab bar, in a language, on a page, with a count), rendered once per
    set of values and kept. A page's frame is the same for every patient; rendering it
    each time cost Today about a third of its template (bench/checkins.py, py-spy).
    The values must be few and hashable; nothing personal goes in."""

    @lru_cache(maxsize=1024)
    def fragment(name: str, **values: Any) -> Markup:
        # Rendered by our own autoescaping templates, as the page itself would be.
        return Markup(env.get_template(name).render(**values).strip())  # noqa: S704

    return fragment


# A kept fragment's form token: a character no text holds, filled in by the page.
CSRF_SLOT = Markup("\ue000csrf\ue000")


def with_csrf(html: str, token: str) -> Markup:
    """`{% filter with_csrf(csrf_token) %}`: the page's form token in the slots of the
    fragments inside (a fragment is the same for every phone; its token is not)."""
    return Markup(str(html).replace(CSRF_SLOT, str(escape(token))))  # noqa: S704


def _language_of(env: Environment) -> str:
    """The language a template is rendered in: its environment's (`Pages` renders a page
    with the environment of its `lang`). A macro imported without the page's context
    still knows it."""
    return env.language if isinstance(env, _TranslatedEnvironment) else DEFAULT_LANGUAGE


@pass_environment
def _day_date(env: Environment, day: date) -> str:
    """A plan day's date as the reader says it: "Thu 3 Dec", "jeu. 3 déc."."""
    return _day_date_in(day, _language_of(env))


@lru_cache(maxsize=1024)
def _day_date_in(day: date, language: str) -> str:
    # Babel reads its locale data and parses the pattern on every call: a date is made once.
    return format_skeleton("MMMEd", day, locale=language)


def local_moment(moment: datetime, zone: ZoneInfo | str, language: str) -> str:
    """A moment as the reader says it, on a named clock: "Dec 3, 2026, 7:39 PM (Paris)",
    "3 déc. 2026, 19:39 (Paris)"; never an ambiguous "12/3/26"."""
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    local = moment.astimezone(zone)
    city = get_timezone_location(zone, locale=language, return_city=True)
    day = format_date(local, "medium", locale=language)
    return f"{day}, {format_time(local, 'short', locale=language)} ({city})"


@pass_environment
def _moment(env: Environment, moment: datetime, zone: ZoneInfo | str) -> str:
    return local_moment(moment, zone, _language_of(env))


# A phone number or any other number, with the spaces and signs inside it.
_NUMBER = re.compile(r"\+?\d(?:[\d\s().-]*\d)?")


def clock(language: str, timezone: str) -> Callable[[datetime], str]:
    """How a page shows a moment: in the reader's language, on the clock of the given zone."""
    zone = ZoneInfo(timezone)
    return lambda moment: local_moment(moment, zone, language)


def tel_uri(phone: str) -> str:
    """A `tel:` link for a number as written: its + and digits (RFC 3966 allows the rest
    as visual separators, but some phones dial nothing when they are there)."""
    return "tel:" + "".join(
        character for character in phone if character.isdigit() or character == "+"
    )


def numbers_ltr(text: str) -> Markup:
    """Text with each number isolated left to right, so it reads in dialling order in Arabic."""
    # Kept per plain text: the plan's details and the answers' advice are the same few texts.
    # (Markup is not kept: it equals the plain text it holds, but is not escaped again.)
    return _numbers_ltr_kept(text) if type(text) is str else _isolate_numbers(text)


@lru_cache(maxsize=2048)
def _numbers_ltr_kept(text: str) -> Markup:
    return _isolate_numbers(text)


def _isolate_numbers(text: str) -> Markup:
    parts: list[str] = []
    last = 0
    for match in _NUMBER.finditer(text):
        parts.append(str(escape(text[last : match.start()])))
        parts.append(f'<bdi dir="ltr">{escape(match.group())}</bdi>')
        last = match.end()
    parts.append(str(escape(text[last:])))
    return Markup("".join(parts))  # noqa: S704 (every piece is escaped above)


def browser_language(request: Request) -> str:
    """The first supported language the browser asks for, before we know the patient."""
    header = request.headers.get("accept-language", "")
    wanted = [part.split(";")[0].strip().replace("-", "_") for part in header.split(",") if part]
    wanted += [tag.split("_")[0] for tag in wanted]
    return negotiate_locale(wanted, list(SUPPORTED_LANGUAGES)) or DEFAULT_LANGUAGE


def _bound(request: Request, nonce: str) -> str:
    """The form token: this browser's nonce bound to its session (the console's cookie
    under /console, the phone's elsewhere; none before signing in). A token read from
    another session, or made without the server's key, never passes."""
    name = CONSOLE_COOKIE if request.scope["path"].startswith("/console") else SESSION_COOKIE
    session = request.cookies.get(name, "")
    key = request.app.state.settings.secret_key.encode()
    digest = hmac.digest(key, f"csrf|{nonce}|{session}".encode(), "sha256")
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def csrf_token(request: Request) -> str:
    """The token for this page's forms; its nonce travels in a cookie of its own."""
    nonce = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
    request.state.csrf_nonce = nonce
    return _bound(request, nonce)


def set_csrf_cookie(request: Request, response: Response, secure: bool) -> None:
    """The nonce's cookie, on a page whose browser did not send it. The header is written
    as Starlette's `set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="strict",
    secure=secure)` writes it (tests/security/test_csrf.py holds them equal), without
    `http.cookies`, whose quoting a URL-safe nonce never needs: 15 µs a page."""
    nonce = getattr(request.state, "csrf_nonce", None)
    if nonce and request.cookies.get(CSRF_COOKIE) != nonce:
        cookie = f"{CSRF_COOKIE}={nonce}; HttpOnly; Path=/; SameSite=strict"
        response.raw_headers.append((b"set-cookie", (cookie + _SECURE[secure]).encode()))


_SECURE = {True: "; Secure", False: ""}


def check_csrf(request: Request, submitted: str | None) -> None:
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce or not submitted or not hmac.compare_digest(_bound(request, nonce), submitted):
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="CSRF check failed")


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def csrf_checked(request: Request) -> None:
    """A page's change comes from one of our pages in this browser: the form's
    `csrf_token` field, or the `X-CSRF-Token` header of a script's request, matches the
    browser's cookie. Every route that changes something from a page takes it as a
    parameter (`_csrf: CsrfChecked`) right after the one saying who is signed in: a
    stranger is still sent to sign in first, and anyone else with a missing or wrong
    token gets a 403 before the route reads or changes anything.
    `tests/security/test_csrf.py` finds any page form without it."""
    submitted = request.headers.get("x-csrf-token")
    if submitted is None and request.headers.get("content-type", "").startswith(_FORMS):
        value = (await request.form()).get(CSRF_FIELD)  # Starlette keeps the parsed form
        submitted = value if isinstance(value, str) else None
    check_csrf(request, submitted)


CsrfChecked = Annotated[None, Depends(csrf_checked)]


def page_context(request: Request, lang: str, **values: Any) -> dict[str, Any]:
    return {
        "request": request,
        "lang": lang,
        "csrf_token": csrf_token(request),
        "quick_exit_url": request.app.state.settings.quick_exit_url,
        **values,
    }
