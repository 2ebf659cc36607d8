/** A scripted stand-in for fetch: records every request, answers from a handler. */
export interface Recorded {
  method: string;
  url: string;
  headers: Headers;
  at: number;
}

export type Handler = (request: Request, index: number) => Response | Promise<Response>;

export interface FakeFetch {
  (request: Request): Promise<Response>;
  calls: Recorded[];
}

/** A fake fetch that answers with `handler` and records what was asked. */
export function fakeFetch(handler: Handler): FakeFetch {
  const calls: Recorded[] = [];
  const fn = (async (request: Request) => {
    if (request.signal.aborted) throw request.signal.reason;
    calls.push({ method: request.method, url: request.url, headers: request.headers, at: Date.now() });
    return handler(request, calls.length - 1);
  }) as FakeFetch;
  fn.calls = calls;
  return fn;
}

/** An RFC 9457 problem response. */
export function problem(status: number, slug: string, headers: Record<string, string> = {}): Response {
  const body = { type: `https://synthscope.dev/problems/${slug}`, title: slug, status, detail: `${slug} (test)` };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/problem+json", ...headers },
  });
}

/** A JSON response. */
export function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json", ...headers } });
}

/** A report document in the given state. */
export function report(status: "queued" | "processing" | "completed" | "failed", percent = 0): Record<string, unknown> {
  return {
    task_id: "task-1",
    status,
    stage: status === "completed" ? "done" : status === "queued" ? "queued" : "analyzing",
    created_at: "2025-01-01T00:00:00Z",
    updated_at: "2025-01-01T00:00:01Z",
    progress: { percent, windows_done: 0, windows_total: null },
    eta_seconds: status === "processing" ? 3 : null,
    limited: false,
    tier: "free",
    result: null,
    error: null,
  };
}

/** The API's answers for one file up to the report being queued, then `poll` for every status request. */
export function fakeApi(poll: (request: Request, pollIndex: number) => Response): FakeFetch {
  let polls = 0;
  return fakeFetch((request) => {
    const path = new URL(request.url).pathname;
    if (path === "/generate-upload-url") {
      return json({
        upload_url: "http://storage.test/upload/1",
        method: "PUT",
        headers: { "Content-Type": "audio/wav", "x-goog-if-generation-match": "0" },
        object_name: "uploads/x/1/talk.wav",
        bucket: "b",
        expires_at: "2099-01-01T00:00:00Z",
      });
    }
    if (path === "/upload/1") return new Response(null, { status: 200 });
    if (path === "/report") {
      return json({ task_id: "task-1", status: "queued", status_url: "/report-status/task-1" }, 202);
    }
    if (path === "/report-status/task-1") return poll(request, polls++);
    return problem(404, "not-found");
  });
}
