"""Serve the Metaflow metadata service API on loopback: ``metaflow-local-service``'s app.

    python metadata_service.py --port PORT --root DIR [--complete]

``metaflow-local-service`` (0.2.0) lacks one route of the service API: a single artifact,
``GET /flows/F/runs/R/steps/S/tasks/T/artifacts/NAME[/attempt/A]``, which Metaflow's Client
uses for ``task[name]`` (so ``task.successful`` and ``run.finished`` read False for every
run, ``python flow.py run``'s too). ``--complete`` adds that route, answered from the
service's own artifact list, so the rest of the Client can be tested against the service.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn
from fastapi import HTTPException
from fastapi.responses import JSONResponse
from metaflow_local_service import server, store


def app(root: str, complete: bool):
    application = server.create_app(root)
    if complete:
        base = "/flows/{flow}/runs/{run}/steps/{step}/tasks/{task}/artifacts/{name}"

        @application.get(base)
        @application.get(base + "/attempt/{attempt}")
        async def get_artifact(
            flow: str, run: str, step: str, task: str, name: str, attempt: int | None = None
        ) -> JSONResponse:
            found = [
                a
                for a in store.get_artifacts(flow, run, step, task, attempt)
                if a.get("name") == name
            ]
            if not found:
                raise HTTPException(status_code=404, detail="Artifact not found")
            return JSONResponse(max(found, key=lambda a: a.get("attempt_id", 0)))

    return application


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--complete", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)
    uvicorn.run(
        app(args.root, args.complete),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
    )
