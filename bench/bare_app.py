"""The bare FastAPI app the hot paths are measured against: /healthz and nothing else.

    .venv/bin/python bench/bare_app.py PORT

Served exactly as `aftercare serve` serves Aftercare (uvicorn, one process, the same
options), so the difference is ours: our layers, our sessions, our work.
"""

import sys

import uvicorn
from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), proxy_headers=False,
                timeout_graceful_shutdown=5, log_config=None, access_log=False)  # fmt: skip
