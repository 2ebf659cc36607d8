// The HTTP contract (openapi.json): anonymous token, signed upload URL, PUT, report, poll.
// Every failure becomes an ApiProblem with the RFC 9457 fields, so the page has one kind of error to show.

const TOKEN_MARGIN = 0.1; // renew when 10% of a token's life is left (at most 30 s), so no request races the clock
const MAX_WAIT_S = 30; // cap on any Retry-After we sleep through while polling

export class ApiProblem extends Error {
  constructor({ type = "about:blank", title = "Error", status = 0, detail = "" } = {}, retryAfter = null) {
    super(detail ? `${title}: ${detail}` : title);
    Object.assign(this, { type, title, status, detail, retryAfter });
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function retryAfter(headers) {
  const v = headers.get("Retry-After");
  if (v == null) return null;
  const n = Number(v);
  if (Number.isFinite(n)) return Math.max(0, n);
  const at = Date.parse(v); // the HTTP-date form
  return Number.isNaN(at) ? null : Math.max(0, (at - Date.now()) / 1000);
}

// A problem from a non-2xx response; bodies that are not problem JSON still give a readable title.
async function problemOf(res) {
  let body = {};
  try {
    body = await res.json();
  } catch {
    body = {};
  }
  const title = body.title || `HTTP ${res.status}`;
  return new ApiProblem({ ...body, title, status: body.status || res.status }, retryAfter(res.headers));
}

const offline = (what) =>
  new ApiProblem({ title: "Network error", detail: `${what} failed: the server could not be reached` });

// --- the token: one anonymous (free tier) token, minted on first use and renewed when it expires ---
let token = null; // { value, renewAt }
let minting = null; // one mint in flight at a time, shared by every file

async function mint() {
  for (;;) {
    let res;
    try {
      res = await fetch("/auth/token", { method: "POST", cache: "no-store" });
    } catch {
      throw offline("Getting an access token");
    }
    if (res.ok) {
      const t = await res.json();
      const life = t.expires_in * 1000;
      return { value: t.access_token, renewAt: Date.now() + life - Math.min(30_000, life * TOKEN_MARGIN) };
    }
    const p = await problemOf(res);
    if (res.status !== 429 || p.retryAfter == null || p.retryAfter > MAX_WAIT_S) throw p;
    await sleep(p.retryAfter * 1000); // the anonymous token budget is per address: wait our turn
  }
}

async function accessToken(renew = false) {
  if (!renew && token && token.renewAt > Date.now()) return token.value;
  if (!minting) {
    minting = mint()
      .then((t) => (token = t))
      .finally(() => (minting = null));
  }
  return (await minting).value;
}

// A JSON call with the bearer token; a 401 (expired or revoked token) renews it once and retries.
async function call(method, path, { body, headers = {} } = {}) {
  for (let attempt = 0; ; attempt++) {
    const auth = { Authorization: `Bearer ${await accessToken(attempt > 0)}` };
    const init = { method, cache: "no-store", headers: { ...headers, ...auth } };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers["Content-Type"] = "application/json";
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch {
      throw offline(`${method} ${path.split("/").slice(0, 2).join("/")}`);
    }
    if (res.status === 401 && attempt === 0) continue;
    return res;
  }
}

async function json(res) {
  if (!res.ok) throw await problemOf(res);
  return res.json();
}

// POST /generate-upload-url → { upload_url, headers, object_name, ... }
export async function uploadUrl(file, fileType) {
  const body = { file_name: file.name, file_type: fileType, size_bytes: file.size };
  return json(await call("POST", "/generate-upload-url", { body }));
}

// PUT the file to its signed URL with exactly the signed headers. XMLHttpRequest, not fetch: only it reports
// upload progress. Storage answers errors as XML (GCS) or problem JSON (local mode); both become an ApiProblem.
export function put(signed, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", signed.upload_url);
    for (const [k, v] of Object.entries(signed.headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) return resolve();
      reject(uploadProblem(xhr));
    };
    xhr.onerror = () =>
      reject(
        new ApiProblem({
          title: "Upload failed",
          detail: "the file could not be read, or the storage server could not be reached",
        }),
      );
    xhr.send(file);
  });
}

function uploadProblem(xhr) {
  const text = xhr.responseText || "";
  try {
    const p = JSON.parse(text);
    if (p && p.title) return new ApiProblem(p);
  } catch {
    // not JSON: GCS's XML error document, read below
  }
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
  return new ApiProblem({
    title: "Upload refused",
    status: xhr.status,
    detail: [code, message].filter(Boolean).join(": ") || `the storage server answered HTTP ${xhr.status}`,
  });
}

// POST /report → { task_id, status, status_url }. The caller keeps `key` across retries of the same file.
export async function submitReport(objectName, key) {
  const headers = { "Idempotency-Key": key };
  return json(await call("POST", "/report", { body: { object_name: objectName }, headers }));
}

// Poll GET /report-status/{id} until completed or failed: If-None-Match turns an unchanged report into a
// body-less 304, and the server's Retry-After paces us. onUpdate gets every new version of the report.
export async function pollReport(taskId, onUpdate) {
  let etag = null;
  let misses = 0;
  for (;;) {
    const headers = etag ? { "If-None-Match": etag } : {};
    let res;
    try {
      res = await call("GET", `/report-status/${encodeURIComponent(taskId)}`, { headers });
      misses = 0;
    } catch (err) {
      if (++misses > 5) throw err; // a blip (server restart, Wi-Fi) should not lose the report
      await sleep(1000 * 2 ** misses);
      continue;
    }
    let wait = retryAfter(res.headers) ?? 1;
    if (res.status === 200) {
      etag = res.headers.get("ETag");
      const report = await res.json();
      onUpdate(report);
      if (report.status === "completed" || report.status === "failed") return report;
    } else if (res.status !== 304) {
      const p = await problemOf(res);
      if (res.status < 500) throw p;
      wait = Math.max(wait, 2);
    }
    await sleep(Math.min(wait, MAX_WAIT_S) * 1000);
  }
}

// A fresh Idempotency-Key; crypto.randomUUID needs a secure context, so plain-http LAN hosts get a fallback.
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
