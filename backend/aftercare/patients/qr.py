"""The enrolment link as a QR code, drawn on the server as SVG (segno)."""

import io

import segno

from aftercare.patients.codes import ALPHABET, LENGTH, normalise_code


def is_code_shaped(typed: str) -> bool:
    """Ten Crockford symbols once dashes and case are set aside; nothing is looked up."""
    symbols = normalise_code(typed).replace("-", "")
    return len(symbols) == LENGTH and all(ch in ALPHABET for ch in symbols)


def qr_svg(link: str, title: str) -> str:
    """A standalone SVG a phone camera reads from a screen or from paper.

    Error correction M survives a smudged printout; the quiet zone of four
    modules is what the standard asks for, and a white background keeps the
    code readable on a dark screen.
    """
    code = segno.make(link, error="m", boost_error=False)
    out = io.BytesIO()
    code.save(out, kind="svg", scale=8, border=4, dark="#000", light="#fff", title=title)
    return out.getvalue().decode()
