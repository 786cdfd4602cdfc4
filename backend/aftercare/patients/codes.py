"""One-time enrolment codes: 50 random bits, easy to read aloud and to type."""

import secrets

from aftercare.accounts.security import token_digest

# Crockford's base 32: no I, L, O or U, so nothing is misread.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 10  # 10 symbols x 5 bits = 50 bits of randomness
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_code() -> str:
    symbols = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return f"{symbols[:5]}-{symbols[5:]}"


def normalise_code(typed: str) -> str:
    """What the patient typed, as the code was issued: case, spaces and dashes don't matter."""
    cleaned = "".join(ch for ch in typed.upper() if ch.isalnum()).translate(_READ_AS)
    return f"{cleaned[:5]}-{cleaned[5:]}" if len(cleaned) == LENGTH else cleaned


def code_digest(typed: str) -> str:
    return token_digest(normalise_code(typed))
