/**
 * `@synthscope/client`: a typed client for the Synthscope API (types generated from its OpenAPI document).
 *
 * ```ts
 * import { createClient, ProblemError } from "@synthscope/client";
 * const client = createClient({ baseUrl, tokenProvider });
 * const report = await client.analyzeFile(file, { signal, onProgress });
 * ```
 * @packageDocumentation
 */
export {
  type AnalysisResult,
  type CallOptions,
  type ClientOptions,
  type CreateTokenOptions,
  createClient,
  createToken,
  type FetchLike,
  type ProblemDetails,
  type Report,
  type ReportAccepted,
  type ReportRequest,
  type ReportStatusResult,
  type RetryOptions,
  type Stage,
  type Status,
  type SynthscopeClient,
  type TokenLike,
  type TokenProvider,
  type TokenResponse,
  type UploadUrlRequest,
  type UploadUrlResponse,
  type Verdict,
} from "./client.js";
export { type AnalyzeOptions, type AnalyzeProgress, analyzeFile, type WaitOptions, waitForReport } from "./flow.js";
export { isAbortError, parseRetryAfter, ProblemError, type ProblemInit } from "./problems.js";
export { RETRYABLE_STATUSES } from "./retry.js";
export type { components, operations, paths } from "./schema.js";
export { putFile, type UploadProgressCallback } from "./upload.js";
