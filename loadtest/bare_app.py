"""The baseline for the catalog benchmark: a bare FastAPI route returning fixed JSON."""

import json
import sys
from typing import Any

import uvicorn
from fastapi import FastAPI


def create_app(payload: dict[str, Any]) -> FastAPI:
    app = FastAPI()

    @app.get("/api/v1/books/{book_id}")
    async def book(book_id: str) -> dict[str, Any]:
        return payload

    return app


def main() -> None:
    port, payload_file = int(sys.argv[1]), sys.argv[2]
    with open(payload_file, "rb") as source:
        payload = json.load(source)
    # Same server settings as the storefront's main(): uvloop, httptools, no access log.
    uvicorn.run(
        create_app(payload),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
