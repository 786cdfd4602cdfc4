"""The report's charts: labels that never overlap, whatever their length or language."""

import re
from itertools import pairwise
from xml.etree import ElementTree

from hypothesis import given
from hypothesis import strategies as st

from aftercare.console.bars import LABEL_CHARACTERS, ROW, row_chart

SVG = "{http://www.w3.org/2000/svg}"
LABEL_SIZE, BAR_SIZE = 12, 14

labels = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=120
)


@given(st.lists(st.tuples(labels, st.floats(min_value=0, max_value=1e6)), max_size=30))
def test_each_label_has_a_row_of_its_own_above_its_bar(bars):
    maximum = max((value for _, value in bars), default=0)
    svg = ElementTree.fromstring(row_chart(bars, maximum, "c", "title", "description"))
    texts = [t for t in svg.iter(f"{SVG}text") if t.get("font-size") == str(LABEL_SIZE)]
    rects = list(svg.iter(f"{SVG}rect"))
    assert len(texts) == len(rects) == len(bars)
    tops = [float(t.get("y", 0)) - LABEL_SIZE for t in texts]
    # Row after row, a label and its bar fit before the next label starts.
    assert all(b - a >= LABEL_SIZE + BAR_SIZE for a, b in pairwise(tops))
    for text, rect, (label, _value) in zip(texts, rects, bars, strict=True):
        assert float(rect.get("y", 0)) >= float(text.get("y", 0)), "the bar is below its label"
        shown = text.text or ""
        assert shown == label or (shown.endswith("…") and label.startswith(shown[:-1]))
        assert len(shown) <= LABEL_CHARACTERS
    height = float(svg.get("viewBox", "0 0 0 0").split()[3])
    assert height >= ROW * len(bars), "every row inside the picture"


def test_a_long_label_in_arabic_is_cut_with_an_ellipsis_not_over_the_next():
    long = "صعوبة في التنفّس، أو تورّم في الشفتين أو اللسان أو الوجه " * 3
    svg = row_chart([(long, 3.0), ("Rash or hives", 1.0)], 3, "c", "t", "d")
    assert "…" in svg and "Rash or hives" in svg
    assert len(re.findall(r'font-size="12"', svg)) == 2
