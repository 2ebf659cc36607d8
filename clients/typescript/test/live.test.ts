/**
 * Against a live server: SYNTHSCOPE_URL (e.g. http://127.0.0.1:8080) and SYNTHSCOPE_WAV (a speech-like WAV).
 * tests/e2e/test_typescript_client.py starts `synthscope serve` and sets both (and SYNTHSCOPE_LIVE_REQUIRED=1,
 * so that they can't be skipped there); without them these tests skip.
 */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { describe, test } from "node:test";
import { type AnalyzeProgress, createClient, createToken, isAbortError, ProblemError } from "../src/index.js";
import { type FakeFetch, fakeFetch } from "./fakes.js";

const BASE = process.env["SYNTHSCOPE_URL"];
const WAV = process.env["SYNTHSCOPE_WAV"];
const API_KEY = process.env["SYNTHSCOPE_API_KEY"];
const skip = BASE === undefined || WAV === undefined ? "SYNTHSCOPE_URL and SYNTHSCOPE_WAV are not set" : false;
if (skip && process.env["SYNTHSCOPE_LIVE_REQUIRED"] === "1") throw new Error(`live tests required: ${skip}`);
const VERDICTS = ["ai", "human", "mixed", "uncertain", "not_applicable"];

async function wavFile(): Promise<File> {
  return new File([await readFile(WAV as string)], basename(WAV as string), { type: "audio/wav" });
}

/** The real fetch, recorded. */
function recorded(): FakeFetch {
  return fakeFetch((request) => fetch(request));
}

describe("live server", { skip }, () => {
  const baseUrl = BASE as string;

  test("analyzeFile on a speech-like WAV: uploaded, queued, polled to completed with a verdict", async () => {
    const fetch = recorded();
    const client = createClient({ baseUrl, fetch });
    const events: AnalyzeProgress[] = [];
    const report = await client.analyzeFile(await wavFile(), {
      onProgress: (p) => events.push(p),
      signal: AbortSignal.timeout(120_000),
    });
    assert.equal(report.status, "completed", JSON.stringify(report.error));
    assert.equal(report.stage, "done");
    assert.ok(report.result, "a completed report has a result");
    assert.ok(VERDICTS.includes(report.result.verdict), report.result.verdict);
    const uploads = events.filter((e) => e.phase === "upload").map((e) => e.percent);
    assert.deepEqual([uploads[0], uploads.at(-1)], [0, 100]);
    assert.ok(events.some((e) => e.phase === "queued"));
    assert.equal(events.at(-1)?.phase, "analysis");
    const paths = fetch.calls.map((c) => `${c.method} ${new URL(c.url).pathname.split("/").slice(0, 2).join("/")}`);
    assert.deepEqual(paths.slice(0, 5), [
      "POST /auth",
      "POST /generate-upload-url",
      "PUT /local-upload",
      "POST /report",
      "GET /report-status",
    ]);
    const polls = fetch.calls.filter((c) => c.url.includes("/report-status/"));
    for (const poll of polls.slice(1)) assert.match(poll.headers.get("If-None-Match") ?? "", /.+/);
    const submit = fetch.calls.find((c) => c.url.endsWith("/report"));
    assert.match(submit?.headers.get("Idempotency-Key") ?? "", /^[0-9a-f-]{36}$/);
  });

  test("a tampered token: ProblemError 401 on the first call, not retried", async () => {
    const { access_token: token } = await createToken({ baseUrl });
    const at = token.length - 5;
    const tampered = token.slice(0, at) + (token[at] === "A" ? "B" : "A") + token.slice(at + 1);
    const fetch = recorded();
    const client = createClient({ baseUrl, token: tampered, fetch });
    const error = await client.analyzeFile(await wavFile()).catch((e: unknown) => e);
    assert.ok(error instanceof ProblemError, String(error));
    assert.equal(error.status, 401);
    assert.match(error.type, /^https?:\/\/|^about:blank$/);
    assert.ok(error.title.length > 0 && error.detail.length > 0);
    assert.equal(fetch.calls.length, 1);
  });

  test("aborting once the report is queued: AbortError, and no further request", async () => {
    const fetch = recorded();
    const client = createClient({ baseUrl, fetch });
    const controller = new AbortController();
    let callsAtAbort = -1;
    const run = client.analyzeFile(await wavFile(), {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.phase === "queued") {
          callsAtAbort = fetch.calls.length;
          controller.abort();
        }
      },
    });
    await assert.rejects(run, (e: unknown) => isAbortError(e));
    assert.equal(callsAtAbort, 4, "token, upload URL, PUT, report");
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(fetch.calls.length, callsAtAbort);
    assert.ok(!fetch.calls.some((c) => c.url.includes("/report-status/")));
  });

  test("the signed upload URL takes one PUT: a second is a ProblemError 412, not retried", async () => {
    const fetch = recorded();
    const client = createClient({ baseUrl, fetch });
    const file = await wavFile();
    const target = await client.createUploadUrl({ file_name: file.name, file_type: file.type, size_bytes: file.size });
    await client.uploadFile(target, file);
    const before = fetch.calls.length;
    const error = await client.uploadFile(target, file).catch((e: unknown) => e);
    assert.ok(error instanceof ProblemError, String(error));
    assert.equal(error.status, 412);
    assert.equal(fetch.calls.length, before + 1);
  });

  test("a non-retryable 4xx from the API (415: not audio) is thrown at once", async () => {
    const fetch = recorded();
    const client = createClient({ baseUrl, fetch });
    await client.getToken();
    const error = await client
      .analyzeFile(new Blob(["hello"]), { fileName: "notes.txt", fileType: "text/plain" })
      .catch((e: unknown) => e);
    assert.ok(error instanceof ProblemError, String(error));
    assert.ok([415, 422].includes(error.status), String(error.status));
    assert.equal(fetch.calls.length, 2);
  });

  const noKey = API_KEY === undefined ? "SYNTHSCOPE_API_KEY is not set" : false;
  test("createToken with the API key on a server, bound to a user; someone else's task is a 404", { skip: noKey }, async () => {
    const minted = await createToken({ baseUrl, apiKey: API_KEY as string, userId: "ts-client-user" });
    assert.equal(minted.token_type, "Bearer");
    assert.ok(minted.expires_in > 0);
    const fetch = recorded();
    const client = createClient({ baseUrl, token: minted.access_token, fetch });
    const error = await client.getReportStatus("no-such-task").catch((e: unknown) => e);
    assert.ok(error instanceof ProblemError, String(error));
    assert.equal(error.status, 404);
    assert.equal(fetch.calls.length, 1);
  });
});
