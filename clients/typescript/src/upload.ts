/**
 * The PUT of a file to its signed upload URL, with exactly the headers the API returned for it.
 *
 * Upload progress: in a browser (a global `XMLHttpRequest` and no custom `fetch`) the PUT goes through XHR,
 * whose `upload.onprogress` reports the bytes really sent. `fetch` has no upload progress (and streaming request
 * bodies need HTTP/2 in browsers, chunked encoding elsewhere, which signed URLs with a length range do not
 * accept), so with fetch (Node, or a custom fetch) progress is reported as 0 before the PUT and 100% after it.
 */
import type { components } from "./schema.js";
import { abortError, readProblem, throwIfAborted } from "./problems.js";
import { type FetchLike, type RetryOptions, sendWithRetries } from "./retry.js";

/** Bytes sent so far of `total`. */
export type UploadProgressCallback = (loaded: number, total: number) => void;

/** The XMLHttpRequest constructor (a browser's, or a stand-in in tests). */
export type XhrConstructor = new () => XMLHttpRequest;

/** How `putFile` sends the bytes. */
export interface PutOptions {
  /** The fetch used when `xhr` is not given. */
  fetch: FetchLike;
  /** Send with this XMLHttpRequest for real upload progress (browsers). */
  xhr?: XhrConstructor | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: UploadProgressCallback | undefined;
  retry?: RetryOptions | undefined;
}

/** The statuses for which a response has no body. */
const NULL_BODY = new Set([101, 204, 205, 304]);

function parseHeaders(raw: string): Headers {
  const headers = new Headers();
  for (const line of raw.trim().split(/[\r\n]+/)) {
    const at = line.indexOf(":");
    if (at > 0) headers.append(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  return headers;
}

/** One PUT through XMLHttpRequest, as a fetch `Response`. */
function xhrPut(
  Xhr: XhrConstructor,
  method: string,
  url: string,
  headers: Record<string, string>,
  body: Blob,
  signal: AbortSignal | undefined,
  onProgress: UploadProgressCallback | undefined,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const xhr = new Xhr();
    const onAbort = (): void => xhr.abort();
    const done = (): void => signal?.removeEventListener("abort", onAbort);
    xhr.open(method, url);
    xhr.responseType = "text";
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => onProgress?.(event.loaded, event.lengthComputable ? event.total : body.size);
    xhr.onload = () => {
      done();
      const status = xhr.status;
      const text = NULL_BODY.has(status) ? null : String(xhr.response ?? "");
      resolve(
        new Response(text, { status, statusText: xhr.statusText, headers: parseHeaders(xhr.getAllResponseHeaders()) }),
      );
    };
    xhr.onerror = () => {
      done();
      reject(new TypeError(`upload to ${new URL(url).origin} failed (network error)`));
    };
    xhr.onabort = () => {
      done();
      reject(abortError(signal));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    xhr.send(body);
  });
}

/**
 * PUT `file` to a signed upload URL with exactly `target.headers` (they carry the content type, the signed
 * length range and the create-only precondition: the URL takes one PUT, a second one is a 412).
 * 429/503 are retried after `Retry-After`; any other error status rejects with a `ProblemError`.
 */
export async function putFile(
  target: components["schemas"]["UploadUrlResponse"],
  file: Blob,
  options: PutOptions,
): Promise<void> {
  const { signal, onProgress } = options;
  throwIfAborted(signal);
  const method = target.method ?? "PUT";
  const headers = { ...target.headers };
  let send: () => Promise<Response>;
  if (options.xhr !== undefined) {
    const Xhr = options.xhr;
    send = () => xhrPut(Xhr, method, target.upload_url, headers, file, signal, onProgress);
  } else {
    const init = signal === undefined ? { method, headers, body: file } : { method, headers, body: file, signal };
    send = () => options.fetch(new Request(target.upload_url, init));
  }
  onProgress?.(0, file.size);
  const response = await sendWithRetries(send, options.retry, signal);
  if (!response.ok) throw await readProblem(response);
  await response.body?.cancel().catch(() => undefined);
  onProgress?.(file.size, file.size);
}
