/**
 * Errors: RFC 9457 problem documents as a typed `ProblemError`, `Retry-After` parsing and abort helpers.
 */

/** The fields of an RFC 9457 problem document (`application/problem+json`) the API sends. */
export interface ProblemInit {
  /** A URI naming the kind of problem (`about:blank` when the response was not a problem document). */
  type: string;
  /** A short summary of the kind of problem. */
  title: string;
  /** The HTTP status code. */
  status: number;
  /** What went wrong this time, for a human. */
  detail: string;
  /** A URI for this occurrence, when the server sent one. */
  instance?: string;
  /** Seconds to wait before trying again, from the `Retry-After` header (429, 503). */
  retryAfter?: number;
  /** Field errors (422 validation failures only). */
  errors?: Record<string, unknown>[];
}

/**
 * An HTTP error from the API (or the upload URL) as a typed RFC 9457 problem.
 *
 * Every non-2xx response the client does not handle itself surfaces as one of these. When the body is not a
 * problem document (a proxy's HTML page, a storage XML error) `type` is `about:blank`, `title` the status text
 * and `detail` the start of the body.
 */
export class ProblemError extends Error implements ProblemInit {
  override readonly name = "ProblemError";
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly instance?: string;
  readonly retryAfter?: number;
  readonly errors?: Record<string, unknown>[];

  constructor(problem: ProblemInit) {
    super(`${problem.status} ${problem.title}: ${problem.detail}`);
    this.type = problem.type;
    this.title = problem.title;
    this.status = problem.status;
    this.detail = problem.detail;
    if (problem.instance !== undefined) this.instance = problem.instance;
    if (problem.retryAfter !== undefined) this.retryAfter = problem.retryAfter;
    if (problem.errors !== undefined) this.errors = problem.errors;
  }
}

/**
 * Parse a `Retry-After` header value: delay-seconds or an HTTP-date.
 * @returns seconds to wait (never negative), or `undefined` when absent or unparseable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number = Date.now()): number | undefined {
  if (value == null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - now) / 1000));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Build a `ProblemError` from an error response and its already-read body (parsed JSON or text).
 */
export function problemFromBody(response: Response, body: unknown): ProblemError {
  const retryAfter = parseRetryAfter(response.headers.get("Retry-After"));
  const extra = retryAfter === undefined ? {} : { retryAfter };
  if (isRecord(body) && typeof body["title"] === "string") {
    const problem: ProblemInit = {
      type: typeof body["type"] === "string" ? body["type"] : "about:blank",
      title: body["title"],
      status: typeof body["status"] === "number" ? body["status"] : response.status,
      detail: typeof body["detail"] === "string" ? body["detail"] : body["title"],
      ...extra,
    };
    if (typeof body["instance"] === "string") problem.instance = body["instance"];
    if (Array.isArray(body["errors"])) problem.errors = body["errors"].filter(isRecord);
    return new ProblemError(problem);
  }
  const title = response.statusText || `HTTP ${response.status}`;
  const text = typeof body === "string" ? body.trim().slice(0, 500) : "";
  return new ProblemError({ type: "about:blank", title, status: response.status, detail: text || title, ...extra });
}

/** Read an error response's body and turn it into a `ProblemError`. */
export async function readProblem(response: Response): Promise<ProblemError> {
  let body: unknown = "";
  try {
    body = await response.text();
    body = JSON.parse(body as string);
  } catch {
    // not JSON: keep the text (or nothing)
  }
  return problemFromBody(response, body);
}

/** The error an aborted operation rejects with: the signal's reason when it is an AbortError, else a new one. */
export function abortError(signal?: AbortSignal): Error {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error && reason.name === "AbortError") return reason;
  const message = reason instanceof Error ? reason.message : typeof reason === "string" ? reason : "";
  return new DOMException(message || "This operation was aborted", "AbortError");
}

/** Throw an AbortError when `signal` is aborted. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw abortError(signal);
}

/** Whether `error` is an abort (an `AbortError` DOMException or Error). */
export function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === "AbortError";
}
