// One Job per dropped file: signed URL → upload → report → poll. A file's failure stays in its own Job, so one
// bad file never stops the rest. Uploads take a slot each: at most MAX_UPLOADS at once, the others wait in order.

import { ApiProblem, newKey, pollReport, put, sleep, submitReport, uploadUrl } from "./api.js";

export const MAX_UPLOADS = 3;
const MAX_SLOT_WAIT_S = 120; // a longer Retry-After on POST /report is a quota, not a busy moment: report it

// Extension → the MIME types the API accepts for it, written into index.html by the server (EXTENSION_MIMES).
let mimeMap = {};
export function setMimeMap(map) {
  mimeMap = map;
}

// The type to declare: the browser's when the API accepts it for the extension (browsers disagree, and often
// say nothing for .opus or .m4a), else the extension's usual one; unknown extensions go as they are so the API
// answers with its own clear 415.
export function declaredType(file) {
  const dot = file.name.lastIndexOf(".");
  const allowed = dot >= 0 ? mimeMap[file.name.slice(dot).toLowerCase()] : null;
  if (!allowed) return file.type || "application/octet-stream";
  return allowed.includes(file.type) ? file.type : allowed[0];
}

// A FIFO semaphore: acquire() resolves in call order, so files upload in the order they were dropped.
class Slots {
  constructor(n) {
    this.free = n;
    this.waiting = [];
  }
  async acquire() {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise((resolve) => this.waiting.push(resolve));
  }
  release() {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}
const uploads = new Slots(MAX_UPLOADS);

let nextId = 1;

export class Job {
  constructor(file, onChange) {
    Object.assign(this, {
      id: `job-${nextId++}`,
      file,
      onChange,
      state: "waiting", // waiting | uploading | running | completed | failed
      stage: "waiting", // a key of STAGES (format.js)
      percent: 0, // of the current phase: upload, then analysis
      eta: null,
      taskId: null,
      report: null,
      problem: null, // an ApiProblem once failed
      note: "", // a passing remark (why we are waiting)
    });
  }

  set(fields) {
    Object.assign(this, fields);
    this.onChange(this);
  }

  get finished() {
    return this.state === "completed" || this.state === "failed";
  }

  async run() {
    try {
      if (this.file.size === 0) throw new ApiProblem({ title: "Empty file", detail: "the file has no content" });
      const objectName = await this.upload();
      await this.submit(objectName);
      const report = await pollReport(this.taskId, (r) => this.progress(r));
      if (report.status === "failed") {
        throw new ApiProblem(report.error || { title: "Analysis failed", detail: "no reason was given" });
      }
      this.set({ state: "completed", stage: "done", percent: 100, eta: null, note: "" });
    } catch (err) {
      const problem =
        err instanceof ApiProblem ? err : new ApiProblem({ title: "Unexpected error", detail: String(err) });
      this.set({ state: "failed", problem, eta: null, note: "" });
    }
  }

  async upload() {
    await uploads.acquire();
    try {
      this.set({ state: "uploading", stage: "preparing" });
      const signed = await uploadUrl(this.file, declaredType(this.file));
      this.set({ stage: "uploading", percent: 0 });
      let last = 0;
      await put(signed, this.file, (f) => {
        const percent = Math.floor(f * 100);
        if (percent !== last) this.set({ percent: (last = percent) }); // no re-render per progress event
      });
      return signed.object_name;
    } finally {
      uploads.release();
    }
  }

  // POST /report, waiting out 429/503 with Retry-After (the tier's "N reports at once" limit) under one
  // Idempotency-Key, so a retry after a lost response can never queue the file twice.
  async submit(objectName) {
    const key = newKey();
    this.set({ state: "running", stage: "submitting", percent: 0 });
    for (;;) {
      try {
        const accepted = await submitReport(objectName, key);
        this.set({ taskId: accepted.task_id, stage: "queued", note: "" });
        return;
      } catch (err) {
        const busy = err instanceof ApiProblem && (err.status === 429 || err.status === 503);
        if (!busy || err.retryAfter == null || err.retryAfter > MAX_SLOT_WAIT_S) throw err;
        this.set({ stage: "retrying", note: err.detail });
        await sleep(Math.max(1, err.retryAfter) * 1000);
      }
    }
  }

  progress(report) {
    this.set({
      report,
      stage: report.stage,
      percent: report.progress?.percent ?? 0,
      eta: report.eta_seconds,
    });
  }
}
