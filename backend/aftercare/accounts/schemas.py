from typing import Literal

from pydantic import BaseModel


class TokenPublic(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
