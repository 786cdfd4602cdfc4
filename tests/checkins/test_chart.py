"""The pain chart: a pure function from points to SVG."""

import re
from xml.etree import ElementTree

from hypothesis import given
from hypothesis import strategies as st

from aftercare.checkins.chart import PainPoint, pain_chart


def test_an_empty_chart_is_still_valid_svg_with_its_title():
    svg = pain_chart([], 28, "Pain <by> day")
    root = ElementTree.fromstring(svg)
    title = root.find("{http://www.w3.org/2000/svg}title")
    assert title is not None and title.text == "Pain <by> day"


@given(st.lists(st.builds(PainPoint, st.integers(1, 40), st.integers(0, 10)), max_size=30))
def test_more_pain_is_drawn_higher_and_later_days_further_along(points):
    svg = pain_chart(points, 28, "t")
    ElementTree.fromstring(svg)  # well-formed
    circles = [
        (float(x), float(y)) for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg)
    ]
    ordered = sorted(points, key=lambda p: p.day)
    assert len(circles) == len(ordered)
    for (x1, y1), (x2, y2), a, b in zip(circles, circles[1:], ordered, ordered[1:], strict=False):
        assert x1 <= x2
        if a.day == b.day:
            continue
        if a.pain > b.pain:
            assert y1 < y2
        if a.pain < b.pain:
            assert y1 > y2
