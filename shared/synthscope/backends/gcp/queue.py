"""Cloud Tasks TaskQueue: one named HTTP task per report, delivered to the worker with an OIDC token.

- Target: `POST {worker_url}/process-report`, JSON body, OIDC token for the invoker service
  account with audience = the worker's *base* URL (the default, the full task URL, breaks on
  any query string: python-tasks#137).
- Dedupe: the task name is sha256(task_id)[:32] (hashed names spread load; sequential ones
  add latency); ALREADY_EXISTS means a task for this report was created already: success.
- Dispatch deadline from settings (Cloud Tasks allows 15 s - 30 min).
- Transient create errors are retried with google-api-core's Retry (exponential backoff).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.cloud import tasks_v2
from google.protobuf import duration_pb2

MIN_DEADLINE_S, MAX_DEADLINE_S = 15, 1800

#: What may be retried on create: the server was busy or unreachable (never a bad request).
TRANSIENT = gretry.if_exception_type(
    gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError, gexc.TooManyRequests, gexc.Aborted
)


def task_name_for(task_id: str) -> str:
    return hashlib.sha256(task_id.encode()).hexdigest()[:32]


class CloudTasksQueue:
    def __init__(
        self,
        client: tasks_v2.CloudTasksClient,
        *,
        project: str,
        location: str,
        queue: str,
        worker_url: str,
        invoker_email: str | None,
        audience: str | None = None,
        dispatch_deadline_s: float = 600.0,
        retry: gretry.Retry | None = None,
    ) -> None:
        self.client = client
        self.parent = client.queue_path(project, location, queue)
        self.worker_url = worker_url.rstrip("/")
        self.invoker_email = invoker_email
        self.audience = (audience or self.worker_url).rstrip("/")
        self.deadline_s = int(min(max(dispatch_deadline_s, MIN_DEADLINE_S), MAX_DEADLINE_S))
        self.retry = retry or gretry.Retry(predicate=TRANSIENT, initial=0.2, maximum=5.0, multiplier=2.0, timeout=30.0)

    def build_task(self, task_id: str, payload: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
        request: dict[str, Any] = {
            "http_method": tasks_v2.HttpMethod.POST,
            "url": f"{self.worker_url}/process-report",
            "headers": {"Content-Type": "application/json", **(headers or {})},
            "body": json.dumps(payload).encode(),
        }
        if self.invoker_email:
            request["oidc_token"] = {"service_account_email": self.invoker_email, "audience": self.audience}
        return tasks_v2.Task(
            name=f"{self.parent}/tasks/{task_name_for(task_id)}",
            http_request=request,
            dispatch_deadline=duration_pb2.Duration(seconds=self.deadline_s),
        )

    def enqueue(self, task_id: str, payload: dict[str, Any], *, headers: dict[str, str] | None = None) -> bool:
        task = self.build_task(task_id, payload, headers)
        try:
            self.client.create_task(parent=self.parent, task=task, retry=self.retry)
        except gexc.AlreadyExists:
            return False  # a task for this report exists (or ran within the dedupe window)
        return True

    def ping(self) -> None:
        self.client.get_queue(name=self.parent, timeout=5.0)

    def close(self) -> None:
        transport = getattr(self.client, "transport", None)
        if transport is not None:
            transport.close()
