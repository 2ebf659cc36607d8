/**
 * The typed client: one method per step of the flow over `openapi-fetch`, with bearer tokens, 429/503 retries
 * and RFC 9457 problems as `ProblemError`.
 */
import createFetchClient, { type Client, type Middleware } from "openapi-fetch";
import { type AnalyzeOptions, analyzeFile, type WaitOptions, waitForReport } from "./flow.js";
import { parseRetryAfter, problemFromBody } from "./problems.js";
import { type FetchLike, type RetryOptions, retryingFetch } from "./retry.js";
import type { components, paths } from "./schema.js";
import { putFile, type UploadProgressCallback, type XhrConstructor } from "./upload.js";

type Schemas = components["schemas"];
/** A report as `GET /report-status/{task_id}` returns it (redacted by the caller's tier). */
export type Report = Schemas["Report"];
/** `queued`, `processing`, `completed` or `failed`. */
export type Status = Schemas["Status"];
/** Where a report is in the pipeline: `queued` … `done`. */
export type Stage = Schemas["Stage"];
/** `ai`, `human`, `mixed`, `uncertain` or `not_applicable`. */
export type Verdict = Schemas["Verdict"];
export type AnalysisResult = Schemas["AnalysisResult"];
export type TokenResponse = Schemas["TokenResponse"];
export type UploadUrlRequest = Schemas["UploadUrlRequest"];
export type UploadUrlResponse = Schemas["UploadUrlResponse"];
/** The body of `POST /report`; `profile` may be left out (the server's default is `default`). */
export type ReportRequest = Omit<Schemas["ReportRequest"], "profile"> & {
  profile?: Schemas["ReportRequest"]["profile"];
};
export type ReportAccepted = Schemas["ReportAccepted"];
export type ProblemDetails = Schemas["ProblemDetails"];
export type { FetchLike, RetryOptions };

/** A bearer token, or the API's token response (its expiry then decides when the next one is fetched). */
export type TokenLike = string | { access_token: string; expires_at?: string; expires_in?: number };

/**
 * Returns a token for the API: in a browser, typically a call to your own backend route that mints one with
 * the API key (see the README); never ship the API key to the browser.
 */
export type TokenProvider = (context: { signal?: AbortSignal | undefined }) => TokenLike | Promise<TokenLike>;

/** Options of `createClient`. */
export interface ClientOptions {
  /** The API's base URL, e.g. `https://api.example.com` or `http://127.0.0.1:8080`. */
  baseUrl: string;
  /** A fixed bearer token (from `POST /auth/token`, or an enterprise API key `ssk_...` on a server). */
  token?: string;
  /**
   * Called when a token is needed. Its result is cached until 30 s before its `expires_at` / `expires_in`
   * (a plain string: until a 401 or `clearToken()`). Without `token` and `tokenProvider`, anonymous tokens
   * are minted with `POST /auth/token`.
   */
  tokenProvider?: TokenProvider;
  /** The fetch to use (default: the global `fetch`). Also used for the upload PUT. */
  fetch?: FetchLike;
  /** How 429 and 503 are retried (default: 3 times, honouring `Retry-After` up to 60 s). */
  retry?: RetryOptions;
  /**
   * How the upload PUT is sent: `xhr` reports real upload progress (browsers), `fetch` reports 0 then 100%.
   * `auto` (default): XHR when a global `XMLHttpRequest` exists and no custom `fetch` was given.
   */
  uploadTransport?: "auto" | "xhr" | "fetch";
}

/** A per-call signal. */
export interface CallOptions {
  signal?: AbortSignal | undefined;
}

/** The result of one poll: the report and its ETag, or "not modified" (304) since the ETag sent. */
export type ReportStatusResult =
  | { notModified: false; report: Report; etag: string | undefined; retryAfter: number | undefined }
  | { notModified: true; etag: string | undefined; retryAfter: number | undefined };

/** The client `createClient` returns. */
export interface SynthscopeClient {
  /** The base URL, without a trailing slash. */
  readonly baseUrl: string;
  /** The raw typed `openapi-fetch` client (bearer token and retries included) for the other operations. */
  readonly api: Client<paths>;
  /** The current bearer token (from the cache, the provider, or an anonymous `POST /auth/token`). */
  getToken(options?: CallOptions): Promise<string>;
  /** Forget the cached token: the next request asks the provider again. */
  clearToken(): void;
  /** `POST /generate-upload-url`: a signed URL for one PUT of the file. */
  createUploadUrl(body: UploadUrlRequest, options?: CallOptions): Promise<UploadUrlResponse>;
  /** PUT the bytes to a signed upload URL with exactly its headers (see `putFile`). */
  uploadFile(
    target: UploadUrlResponse,
    file: Blob,
    options?: CallOptions & { onProgress?: UploadProgressCallback | undefined },
  ): Promise<void>;
  /** `POST /report` with an `Idempotency-Key` (a retry with the same key and body returns the same task). */
  createReport(body: ReportRequest, options?: CallOptions & { idempotencyKey?: string }): Promise<ReportAccepted>;
  /** `GET /report-status/{task_id}`, conditional on `etag` (`If-None-Match`). */
  getReportStatus(taskId: string, options?: CallOptions & { etag?: string | undefined }): Promise<ReportStatusResult>;
  /** Poll a report until it is `completed` or `failed` (see `waitForReport`). */
  waitForReport(taskId: string, options?: WaitOptions): Promise<Report>;
  /** Upload a file, queue its report and poll it to the end (see `analyzeFile`). */
  analyzeFile(file: Blob, options?: AnalyzeOptions): Promise<Report>;
}

/** Options of `createToken`. */
export interface CreateTokenOptions extends CallOptions {
  baseUrl: string;
  /** The enterprise API key (`X-Api-Key`): server-side only, never in a browser. */
  apiKey?: string;
  /** Bind the token to this user (only with `apiKey`); their entitlement then sets the tier. */
  userId?: string;
  fetch?: FetchLike;
  retry?: RetryOptions;
}

function bindFetch(fetchFn: FetchLike | undefined): FetchLike {
  // Called as a plain function: a browser's fetch throws "Illegal invocation" when called as a method.
  return fetchFn === undefined ? (request) => globalThis.fetch(request) : (request) => fetchFn(request);
}

/**
 * Mint a bearer token with `POST /auth/token`: anonymous without `apiKey`, or (on a trusted server, with the
 * API key from its environment) bound to `userId`.
 * @throws {ProblemError} on an error response (429 is retried first).
 */
export async function createToken(options: CreateTokenOptions): Promise<TokenResponse> {
  const api = createFetchClient<paths>({
    baseUrl: options.baseUrl,
    fetch: retryingFetch(bindFetch(options.fetch), options.retry),
  });
  const { data, error, response } = await api.POST("/auth/token", {
    ...(options.userId === undefined ? {} : { body: { user_id: options.userId } }),
    headers: options.apiKey === undefined ? {} : { "X-Api-Key": options.apiKey },
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  if (data === undefined || !response.ok) throw problemFromBody(response, error);
  return data;
}

class TokenCache {
  private value: { token: string; refreshAt: number } | undefined;
  private pending: Promise<string> | undefined;

  constructor(private readonly provider: TokenProvider) {}

  get(signal: AbortSignal | undefined): Promise<string> {
    if (this.value !== undefined && Date.now() < this.value.refreshAt) return Promise.resolve(this.value.token);
    this.pending ??= this.fetch(signal).finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  clear(): void {
    this.value = undefined;
  }

  private async fetch(signal: AbortSignal | undefined): Promise<string> {
    const got = await this.provider({ signal });
    if (typeof got === "string") {
      this.value = { token: got, refreshAt: Number.POSITIVE_INFINITY };
      return got;
    }
    let expiresAt = got.expires_at === undefined ? Number.NaN : Date.parse(got.expires_at);
    if (Number.isNaN(expiresAt)) {
      expiresAt = got.expires_in === undefined ? Number.POSITIVE_INFINITY : Date.now() + got.expires_in * 1000;
    }
    this.value = { token: got.access_token, refreshAt: expiresAt - 30_000 };
    return got.access_token;
  }
}

function withSignal(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal === undefined ? {} : { signal };
}

/**
 * Create a Synthscope client.
 *
 * ```ts
 * const client = createClient({ baseUrl: "http://127.0.0.1:8080" }); // anonymous tokens
 * const report = await client.analyzeFile(file, { onProgress: (p) => console.log(p) });
 * ```
 * @throws {TypeError} when both `token` and `tokenProvider` are given.
 */
export function createClient(options: ClientOptions): SynthscopeClient {
  if (options.token !== undefined && options.tokenProvider !== undefined) {
    throw new TypeError("give either token or tokenProvider, not both");
  }
  const baseUrl = options.baseUrl.replace(/\/+$/, "");
  const baseFetch = bindFetch(options.fetch);
  const fixed = options.token;
  const provider: TokenProvider =
    options.tokenProvider ??
    (fixed !== undefined
      ? () => fixed
      : ({ signal }) => createToken({ baseUrl, fetch: baseFetch, ...withSignal(signal), ...retryOption(options) }));
  const tokens = new TokenCache(provider);

  const auth: Middleware = {
    async onRequest({ request, schemaPath }) {
      if (schemaPath === "/auth/token" || request.headers.has("Authorization")) return undefined;
      const token = await tokens.get(request.signal);
      request.headers.set("Authorization", `Bearer ${token}`);
      return request;
    },
    onResponse({ response }) {
      if (response.status === 401 && fixed === undefined) tokens.clear();
      return undefined;
    },
  };
  const api = createFetchClient<paths>({ baseUrl, fetch: retryingFetch(baseFetch, options.retry) });
  api.use(auth);

  const transport = options.uploadTransport ?? "auto";
  const xhr: XhrConstructor | undefined =
    transport === "xhr" || (transport === "auto" && options.fetch === undefined)
      ? (globalThis as { XMLHttpRequest?: XhrConstructor }).XMLHttpRequest
      : undefined;
  if (transport === "xhr" && xhr === undefined) throw new TypeError("uploadTransport 'xhr' needs XMLHttpRequest");

  const client: SynthscopeClient = {
    baseUrl,
    api,
    getToken: (opts = {}) => tokens.get(opts.signal),
    clearToken: () => tokens.clear(),

    async createUploadUrl(body, opts = {}) {
      const { data, error, response } = await api.POST("/generate-upload-url", { body, ...withSignal(opts.signal) });
      if (data === undefined || !response.ok) throw problemFromBody(response, error);
      return data;
    },

    uploadFile(target, file, opts = {}) {
      return putFile(target, file, {
        fetch: baseFetch,
        xhr,
        signal: opts.signal,
        onProgress: opts.onProgress,
        retry: options.retry,
      });
    },

    async createReport(body, opts = {}) {
      const key = opts.idempotencyKey ?? globalThis.crypto.randomUUID();
      const { data, error, response } = await api.POST("/report", {
        body: body as Schemas["ReportRequest"], // the server fills in the defaults

        params: { header: { "Idempotency-Key": key } },
        ...withSignal(opts.signal),
      });
      if (data === undefined || !response.ok) throw problemFromBody(response, error);
      return data;
    },

    async getReportStatus(taskId, opts = {}) {
      const { data, error, response } = await api.GET("/report-status/{task_id}", {
        params: { path: { task_id: taskId } },
        headers: opts.etag === undefined ? {} : { "If-None-Match": opts.etag },
        ...withSignal(opts.signal),
      });
      const etag = response.headers.get("ETag") ?? undefined;
      const retryAfter = parseRetryAfter(response.headers.get("Retry-After"));
      if (response.status === 304) return { notModified: true, etag: etag ?? opts.etag, retryAfter };
      if (data === undefined || !response.ok) throw problemFromBody(response, error);
      return { notModified: false, report: data, etag, retryAfter };
    },

    waitForReport: (taskId, opts) => waitForReport(client, taskId, opts),
    analyzeFile: (file, opts) => analyzeFile(client, file, opts),
  };
  return client;
}

function retryOption(options: ClientOptions): { retry?: RetryOptions } {
  return options.retry === undefined ? {} : { retry: options.retry };
}
