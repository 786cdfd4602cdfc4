"""Templates are translated as they are compiled, once per language (web.Pages): a page
must read exactly as if each `_()` had been called while it was rendered, whatever
the values put into a sentence, in every language."""

from hypothesis import given
from hypothesis import strategies as st
from jinja2 import Environment

from aftercare.i18n import SUPPORTED_LANGUAGES
from aftercare.web import _page_gettext, make_templates

SOURCE = (
    "<p>{{ _('Quick exit') }}</p>"
    "<h1>{{ _('Day %(day)s of %(days)s', day=day, days=days) }}</h1>"
    "<p>{{ _('Your answers from %(time)s reached the clinic', time=time) }}</p>"
    "<p>{{ _(dynamic) }}</p>"
    "{% set pair = ('/plan', _('My plan')) %}<a href='{{ pair[0] }}'>{{ pair[1] }}</a>"
    "<p>{{ ngettext('%(num)d new', '%(num)d new', count) }}</p>"
    "<p>{{ _('a sentence no catalog holds, 100%% sure') }}</p>"
    # Apostrophes in the catalog's own text are not escaped, as before.
    "<h2>{{ _('Today') }}</h2><p>{{ _('A new enrolment code for %(alias)s', alias=time) }}</p>"
    "<p>{{ _(\"On the patient's clock (%(zone)s). The patient sees the date and place in"
    " the app and is reminded the day before; notifications and the calendar say only"
    ' \\"Appointment\\".", zone=time) }}</p>'
)


def _called_while_rendered() -> Environment:
    """The same templates, with `_()` called at each render as before."""
    env = Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    translated = make_templates().env
    env.globals.update(translated.globals)
    env.globals["_"] = env.globals["gettext"] = _page_gettext
    return env


def test_a_literal_sentence_is_no_longer_a_call():
    for language, env in make_templates().languages.items():
        code = env.compile("{{ _('Quick exit') }}", raw=True)
        assert "Quick exit" not in code or language == "en", language
        assert "context.call" not in code, "translated when compiled"
    dynamic = make_templates().env.compile("{{ _(message) }}", raw=True)
    assert "context.call" in dynamic, "a variable is still translated at render"


@given(
    language=st.sampled_from(SUPPORTED_LANGUAGES),
    day=st.integers(min_value=-5, max_value=400),
    time=st.text(max_size=12),
    dynamic=st.sampled_from(["Messages", "Check in", "not in any catalog <b>"]),
    count=st.integers(min_value=0, max_value=120),
)
def test_a_page_reads_as_if_each_sentence_were_translated_at_render(
    language, day, time, dynamic, count
):
    values = {"lang": language, "day": day, "days": 28, "time": time, "dynamic": dynamic,
              "count": count}  # fmt: skip
    compiled = make_templates().languages[language].from_string(SOURCE).render(values)
    at_render = _called_while_rendered().from_string(SOURCE).render(values)
    assert compiled == at_render
    assert "<script" not in compiled or "<script" in SOURCE, "values are escaped"
    if "<" in time:
        assert "&lt;" in compiled


def test_a_page_loaded_before_macros_are_shared_still_sees_them():
    """A template keeps the globals it was loaded with (one plain dict, `make_globals`):
    sharing macros afterwards must not leave a page already loaded without them."""
    from aftercare.web import Pages

    pages = Pages()
    env = pages.languages["fr"]
    assert "visit_when" not in env.get_template("patient/plan.html").globals
    pages.share_macros("patient/_visit.html")
    assert "visit_when" in env.get_template("patient/plan.html").globals
