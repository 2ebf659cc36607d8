/**
 * The whole flow for one file: signed upload URL → PUT → `POST /report` → poll `GET /report-status/{task_id}`
 * (ETag / If-None-Match, Retry-After) until the report is `completed` or `failed`.
 */
import type { Report, ReportRequest, Stage, Status, SynthscopeClient } from "./client.js";
import { abortError, throwIfAborted } from "./problems.js";
import { sleep } from "./retry.js";

/** What `onProgress` receives: upload bytes first, then the queued task, then each new state of the report. */
export type AnalyzeProgress =
  | {
      phase: "upload";
      /** Bytes sent (with fetch: 0 before the PUT, `total` after it; with XHR: as they go). */
      loaded: number;
      total: number;
      /** 0–100. */
      percent: number;
    }
  | { phase: "queued"; taskId: string; status: Status }
  | {
      phase: "analysis";
      taskId: string;
      status: Status;
      stage: Stage;
      /** 0–100, from the report's `progress.percent`. */
      percent: number;
      /** The server's estimate of the seconds left, when it has one. */
      etaSeconds: number | null;
      report: Report;
    };

/** Options of `waitForReport`. */
export interface WaitOptions {
  /** Aborting stops polling at once: the promise rejects with an AbortError and no further request is sent. */
  signal?: AbortSignal | undefined;
  /** Called with every report that changed (not for 304s). */
  onProgress?: ((progress: AnalyzeProgress) => void) | undefined;
  /** Seconds between polls when the response has no `Retry-After` (default 1). */
  pollIntervalSeconds?: number;
  /** The longest wait between polls, whatever `Retry-After` says (default 30). */
  maxPollIntervalSeconds?: number;
}

/** Options of `analyzeFile`. */
export interface AnalyzeOptions extends WaitOptions {
  /** The file name sent to the API (default: the File's name, else `audio.<ext>` from its type). */
  fileName?: string;
  /** The MIME type (default: the Blob's type, else guessed from the name's extension). */
  fileType?: string;
  /** `default` (most accurate) or `fast` (no speech encoder; bulk screening). */
  profile?: ReportRequest["profile"];
  /** The `Idempotency-Key` of `POST /report` (default: a new `crypto.randomUUID()` per call). */
  idempotencyKey?: string;
}

/** The MIME type the API accepts first for each extension (see shared/synthscope/uploads.py). */
const EXTENSION_TYPES: Readonly<Record<string, string>> = {
  mp3: "audio/mpeg",
  wav: "audio/wav",
  flac: "audio/flac",
  ogg: "audio/ogg",
  oga: "audio/ogg",
  opus: "audio/opus",
  m4a: "audio/mp4",
  mp4: "audio/mp4",
  aac: "audio/aac",
  webm: "audio/webm",
};

const TERMINAL: ReadonlySet<Status> = new Set<Status>(["completed", "failed"]);

function describe(file: Blob, options: AnalyzeOptions): { name: string; type: string } {
  const own = typeof (file as Partial<File>).name === "string" ? (file as File).name : "";
  let type = options.fileType ?? file.type;
  let name = options.fileName ?? own;
  if (name === "") {
    const sub = type.split(";")[0]?.trim().toLowerCase() ?? "";
    const ext = Object.keys(EXTENSION_TYPES).find((e) => EXTENSION_TYPES[e] === sub) ?? "wav";
    name = `audio.${ext}`;
  }
  if (type === "") {
    const ext = name.toLowerCase().split(".").pop() ?? "";
    type = EXTENSION_TYPES[ext] ?? "application/octet-stream";
  }
  return { name, type };
}

/**
 * Poll a report until it is `completed` or `failed`, sending `If-None-Match` with the last ETag (a 304 means
 * unchanged) and waiting what `Retry-After` says between polls.
 * @returns the final report; a `failed` one is returned too (its `error` holds the problem).
 * @throws {ProblemError} on an error response; an AbortError when `signal` aborts.
 */
export async function waitForReport(
  client: SynthscopeClient,
  taskId: string,
  options: WaitOptions = {},
): Promise<Report> {
  const { signal, onProgress } = options;
  const fallback = options.pollIntervalSeconds ?? 1;
  const longest = options.maxPollIntervalSeconds ?? 30;
  let etag: string | undefined;
  let last: Report | undefined;
  try {
    for (;;) {
      throwIfAborted(signal);
      const poll = await client.getReportStatus(taskId, { signal, etag: last === undefined ? undefined : etag });
      if (!poll.notModified) {
        last = poll.report;
        etag = poll.etag;
        onProgress?.({
          phase: "analysis",
          taskId,
          status: last.status,
          stage: last.stage,
          percent: last.progress?.percent ?? 0,
          etaSeconds: last.eta_seconds ?? null,
          report: last,
        });
      }
      if (last !== undefined && TERMINAL.has(last.status)) return last;
      throwIfAborted(signal);
      const wait = Math.min(Math.max(poll.retryAfter ?? fallback, 0.2), longest);
      await sleep(wait * 1000, signal);
    }
  } catch (error) {
    if (signal?.aborted) throw abortError(signal);
    throw error;
  }
}

/**
 * Analyse one file: get a signed upload URL, PUT the bytes with exactly the returned headers, queue the report
 * (`POST /report` with a fresh `Idempotency-Key`) and poll it to the end.
 *
 * `onProgress` gets `{ phase: "upload", loaded, total, percent }` (with fetch, e.g. in Node: 0% before the PUT
 * and 100% after it; with XHR in browsers: as bytes are sent), then `{ phase: "queued", taskId }`, then
 * `{ phase: "analysis", status, stage, percent, etaSeconds, report }` for each change of the report.
 *
 * @param file a `File` (its name and type are used) or a `Blob` (give `fileName`, or its type names the extension).
 * @returns the final report: check `status` (`completed`: `result.verdict`; `failed`: `error`).
 * @throws {ProblemError} on an error response (429/503 are retried first, after `Retry-After`).
 * @throws an AbortError when `signal` aborts; no request is sent after that.
 */
export async function analyzeFile(client: SynthscopeClient, file: Blob, options: AnalyzeOptions = {}): Promise<Report> {
  const { signal, onProgress } = options;
  try {
    throwIfAborted(signal);
    const { name, type } = describe(file, options);
    const target = await client.createUploadUrl(
      { file_name: name, file_type: type, size_bytes: file.size },
      { signal },
    );
    throwIfAborted(signal);
    await client.uploadFile(target, file, {
      signal,
      onProgress: (loaded, total) =>
        onProgress?.({ phase: "upload", loaded, total, percent: total > 0 ? (100 * loaded) / total : 100 }),
    });
    throwIfAborted(signal);
    const body: ReportRequest = { object_name: target.object_name };
    if (options.profile !== undefined) body.profile = options.profile;
    const accepted = await client.createReport(body, {
      signal,
      idempotencyKey: options.idempotencyKey ?? globalThis.crypto.randomUUID(),
    });
    onProgress?.({ phase: "queued", taskId: accepted.task_id, status: accepted.status });
    return await waitForReport(client, accepted.task_id, options);
  } catch (error) {
    if (signal?.aborted) throw abortError(signal);
    throw error;
  }
}
