"""The enrolment link as a QR code: it encodes the link and spends nothing."""

import re

import segno


def _dark_modules(svg: str) -> set[tuple[int, int]]:
    """Read segno's SVG path back into the set of dark modules (column, row).

    The path draws each run of dark modules as a horizontal stroke through the
    middle of its row: absolute or relative moves, then `h` runs.
    """
    path = re.search(r'stroke="#000" d="([^"]+)"', svg)
    assert path is not None
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for command, a, b in re.findall(r"([MmHh])(-?[\d.]+)(?:\s(-?[\d.]+))?", path.group(1)):
        if command == "M":
            x, y = float(a), float(b)
        elif command == "m":
            x, y = x + float(a), y + float(b)
        else:
            run = float(a) if command == "h" else float(a) - x
            dark.update((int(x) + i, int(y)) for i in range(int(run)))
            x += run
    return dark


def _expected(link: str, border: int = 4) -> set[tuple[int, int]]:
    matrix = segno.make(link, error="m", boost_error=False).matrix
    return {
        (col + border, row + border)
        for row, line in enumerate(matrix)
        for col, value in enumerate(line)
        if value
    }


def test_the_qr_code_encodes_the_enrolment_link(client, factory, settings):
    nurse = factory.nurse()
    created = client.post("/api/v1/patients", json=factory.patient_body(), headers=nurse.headers)
    body = created.json()
    assert body["enrollment_qr_url"] == body["enrollment_url"] + "/qr.svg"
    path = body["enrollment_qr_url"].removeprefix(settings.base_url.rstrip("/"))
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert response.headers["cache-control"] == "no-store"
    assert _dark_modules(response.text) == _expected(body["enrollment_url"])
    # Neutral: the picture's title says nothing of the procedure.
    assert "<title>Sign-in link</title>" in response.text
    assert "hymen" not in response.text.lower()


def test_showing_the_qr_code_does_not_spend_the_code(client, factory):
    enrolment = factory.enrolment(factory.nurse())
    assert client.get(f"/start/{enrolment.code}/qr.svg").status_code == 200
    assert client.post("/api/v1/enroll", json={"code": enrolment.code}).status_code == 200


def test_a_typed_code_is_drawn_as_issued(client, settings):
    lower = client.get("/start/abcde-fghjk/qr.svg")
    assert _dark_modules(lower.text) == _expected(
        f"{settings.base_url.rstrip('/')}/start/ABCDE-FGHJK"
    )


def test_anything_that_is_not_a_code_is_not_drawn(client):
    for path in ("/start/short/qr.svg", "/start/ABCDE-FGHJU/qr.svg", "/start/ABCDE-FGHJKX/qr.svg"):
        assert client.get(path).status_code == 404
