/** Retries, problems and polling against a scripted fetch (no server). */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createClient, isAbortError, type AnalyzeProgress, parseRetryAfter, ProblemError } from "../src/index.js";
import { fakeApi, fakeFetch, json, problem, report } from "./fakes.js";

const BASE = "http://api.test";
const TOKEN = { access_token: "t", token_type: "Bearer", expires_in: 3600, expires_at: "2099-01-01T00:00:00Z" };

describe("retries", () => {
  test("a 429 is retried after its Retry-After, then succeeds", async () => {
    const fetch = fakeFetch((_, i) =>
      i === 0 ? problem(429, "rate-limited", { "Retry-After": "1" }) : json(TOKEN),
    );
    const client = createClient({ baseUrl: BASE, fetch });
    const started = Date.now();
    assert.equal(await client.getToken(), "t");
    assert.equal(fetch.calls.length, 2);
    const waited = (fetch.calls[1]?.at ?? 0) - (fetch.calls[0]?.at ?? 0);
    assert.ok(waited >= 950, `retried after ${waited} ms, before the 1 s Retry-After`);
    assert.ok(Date.now() - started < 5000);
  });

  test("a 503 is retried too (POST /report keeps its Idempotency-Key)", async () => {
    const fetch = fakeFetch((_, i) =>
      i < 2
        ? problem(503, "unavailable", { "Retry-After": "0" })
        : json({ task_id: "a", status: "queued", status_url: "/x" }, 202),
    );
    const client = createClient({ baseUrl: BASE, token: "t", fetch });
    const accepted = await client.createReport({ object_name: "uploads/x" }, { idempotencyKey: "key-1" });
    assert.equal(accepted.task_id, "a");
    assert.equal(fetch.calls.length, 3);
    for (const call of fetch.calls) {
      assert.equal(call.headers.get("Idempotency-Key"), "key-1");
      assert.equal(call.headers.get("Authorization"), "Bearer t");
    }
  });

  test("retries are bounded: the last 429 surfaces as a ProblemError with retryAfter", async () => {
    const fetch = fakeFetch(() => problem(429, "rate-limited", { "Retry-After": "0" }));
    const client = createClient({ baseUrl: BASE, token: "t", fetch, retry: { maxRetries: 2 } });
    const body = { file_name: "a.wav", file_type: "audio/wav", size_bytes: 1 };
    const error = await client.createUploadUrl(body).catch((e: unknown) => e);
    assert.ok(error instanceof ProblemError);
    assert.equal(error.status, 429);
    assert.equal(error.retryAfter, 0);
    assert.equal(fetch.calls.length, 3);
  });

  test("a Retry-After longer than maxDelaySeconds is not waited for", async () => {
    const fetch = fakeFetch(() => problem(429, "rate-limited", { "Retry-After": "3600" }));
    const client = createClient({ baseUrl: BASE, token: "t", fetch });
    const error = await client.createReport({ object_name: "o" }).catch((e: unknown) => e);
    assert.ok(error instanceof ProblemError);
    assert.equal(error.retryAfter, 3600);
    assert.equal(fetch.calls.length, 1);
  });

  for (const status of [400, 401, 404, 409, 413, 415, 422, 500]) {
    test(`a ${status} is not retried`, async () => {
      const fetch = fakeFetch(() => problem(status, `s${status}`, { "Retry-After": "0" }));
      const client = createClient({ baseUrl: BASE, token: "t", fetch });
      const error = await client.createReport({ object_name: "o" }).catch((e: unknown) => e);
      assert.ok(error instanceof ProblemError, String(error));
      assert.equal(error.status, status);
      assert.equal(error.type, `https://synthscope.dev/problems/s${status}`);
      assert.equal(error.title, `s${status}`);
      assert.equal(error.detail, `s${status} (test)`);
      assert.equal(fetch.calls.length, 1);
    });
  }

  test("a body that is not a problem document still gives a ProblemError", async () => {
    const fetch = fakeFetch(
      () => new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }),
    );
    const client = createClient({ baseUrl: BASE, token: "t", fetch });
    const error = await client.getReportStatus("x").catch((e: unknown) => e);
    assert.ok(error instanceof ProblemError);
    assert.deepEqual([error.type, error.title, error.status], ["about:blank", "Bad Gateway", 502]);
    assert.match(error.detail, /bad gateway/);
    assert.equal(fetch.calls.length, 1);
  });

  test("Retry-After as an HTTP-date", () => {
    const now = Date.parse("2025-01-01T00:00:00Z");
    assert.equal(parseRetryAfter("Wed, 01 Jan 2025 00:00:05 GMT", now), 5);
    assert.equal(parseRetryAfter("Tue, 31 Dec 2024 00:00:00 GMT", now), 0);
    assert.equal(parseRetryAfter("soon", now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
  });
});

describe("tokens", () => {
  test("a provider's token is cached until near its expiry, and dropped after a 401", async () => {
    let minted = 0;
    const fetch = fakeFetch((request, i) =>
      i === 1 ? problem(401, "unauthorized") : json({ ...report("processing"), seen: request.headers.get("Authorization") }),
    );
    const client = createClient({
      baseUrl: BASE,
      fetch,
      tokenProvider: () => ({ access_token: `tok${++minted}`, expires_in: 3600 }),
    });
    await client.getReportStatus("task-1");
    const unauthorized = (e: unknown): boolean => e instanceof ProblemError && e.status === 401;
    await assert.rejects(client.getReportStatus("task-1"), unauthorized);
    await client.getReportStatus("task-1");
    assert.deepEqual(
      fetch.calls.map((c) => c.headers.get("Authorization")),
      ["Bearer tok1", "Bearer tok1", "Bearer tok2"],
    );
  });

  test("token and tokenProvider together are refused", () => {
    assert.throws(() => createClient({ baseUrl: BASE, token: "a", tokenProvider: () => "b" }), TypeError);
  });
});

describe("polling", () => {
  test("If-None-Match with the last ETag; a 304 is 'unchanged'", async () => {
    const fetch = fakeApi((request, i) => {
      if (i === 0) return json(report("processing", 10), 200, { ETag: '"a"', "Retry-After": "0" });
      assert.equal(request.headers.get("If-None-Match"), '"a"');
      if (i === 1) return new Response(null, { status: 304, headers: { ETag: '"a"', "Retry-After": "0" } });
      return json(report("completed", 100), 200, { ETag: '"b"' });
    });
    const events: AnalyzeProgress[] = [];
    const client = createClient({ baseUrl: BASE, token: "t", fetch });
    const file = new File([new Uint8Array(64)], "talk.wav", { type: "audio/wav" });
    const final = await client.analyzeFile(file, { onProgress: (p) => events.push(p) });
    assert.equal(final.status, "completed");
    assert.deepEqual(
      events.map((e) =>
        e.phase === "upload" ? `upload ${e.percent}` : e.phase === "queued" ? "queued" : `${e.status} ${e.percent}`,
      ),
      ["upload 0", "upload 100", "queued", "processing 10", "completed 100"],
    );
    const put = fetch.calls.find((c) => c.method === "PUT");
    assert.equal(put?.headers.get("x-goog-if-generation-match"), "0");
    assert.equal(put?.headers.get("Authorization"), null, "the bearer token must not go to the storage URL");
  });

  test("aborting while waiting for the next poll rejects with an AbortError and sends nothing more", async () => {
    const fetch = fakeApi(() => json(report("processing", 5), 200, { ETag: '"p"', "Retry-After": "1" }));
    const controller = new AbortController();
    const client = createClient({ baseUrl: BASE, token: "t", fetch });
    const file = new File([new Uint8Array(64)], "talk.wav", { type: "audio/wav" });
    let abortedAt = 0;
    let callsAtAbort = 0;
    const run = client.analyzeFile(file, {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === "analysis" && abortedAt === 0) {
          setTimeout(() => {
            callsAtAbort = fetch.calls.length;
            abortedAt = Date.now();
            controller.abort();
          }, 100);
        }
      },
    });
    await assert.rejects(run, (e: unknown) => isAbortError(e));
    assert.ok(Date.now() - abortedAt < 200, "the wait was not cut short");
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(fetch.calls.length, callsAtAbort);
  });
});

describe("upload progress through XMLHttpRequest", () => {
  test("upload.onprogress events become upload progress; exactly the returned headers are set", async () => {
    const sent: Record<string, string> = {};
    class FakeXhr {
      upload: { onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | null } = {
        onprogress: null,
      };
      status = 0;
      statusText = "";
      response = "";
      responseType = "";
      onload: (() => void) | null = null;
      onerror: (() => void) | null = null;
      onabort: (() => void) | null = null;
      open(method: string, url: string): void {
        assert.equal(method, "PUT");
        assert.equal(url, "http://storage.test/upload/1");
      }
      setRequestHeader(name: string, value: string): void {
        sent[name] = value;
      }
      getAllResponseHeaders(): string {
        return "etag: x\r\n";
      }
      abort(): void {
        this.onabort?.();
      }
      send(body: Blob): void {
        for (const loaded of [0, 32, 64]) {
          this.upload.onprogress?.({ loaded, total: body.size, lengthComputable: true });
        }
        this.status = 200;
        this.statusText = "OK";
        this.onload?.();
      }
    }
    const { putFile } = await import("../src/upload.js");
    const seen: number[] = [];
    await putFile(
      {
        upload_url: "http://storage.test/upload/1",
        method: "PUT",
        headers: { "Content-Type": "audio/wav", "x-goog-if-generation-match": "0" },
        object_name: "o",
        bucket: "b",
        expires_at: "2099-01-01T00:00:00Z",
      },
      new Blob([new Uint8Array(64)]),
      {
        fetch: () => Promise.reject(new Error("fetch must not be used")),
        xhr: FakeXhr as unknown as new () => XMLHttpRequest,
        onProgress: (loaded) => seen.push(loaded),
      },
    );
    assert.deepEqual(sent, { "Content-Type": "audio/wav", "x-goog-if-generation-match": "0" });
    assert.deepEqual(seen, [0, 0, 32, 64, 64]);
  });
});
