// The batch summary: one table row per file, and the whole batch as CSV or JSON (a Blob download, so nothing
// leaves the browser again).

import { el, pct, secs, VERDICTS } from "./format.js";

const COLUMNS = [
  "file_name",
  "size_bytes",
  "status",
  "verdict",
  "ai_probability",
  "confidence",
  "duration_s",
  "windows",
  "ai_windows",
  "human_windows",
  "uncertain_windows",
  "ai_share",
  "tier",
  "limited",
  "task_id",
  "error_title",
  "error_detail",
];

// A flat record per file: the CSV row, and the table's source.
export function record(job) {
  const report = job.report;
  const r = job.state === "completed" ? report?.result : null;
  const s = r?.summary;
  return {
    file_name: job.file.name,
    size_bytes: job.file.size,
    status: job.finished ? job.state : "running",
    verdict: r?.verdict ?? null,
    ai_probability: r?.ai_probability ?? null,
    confidence: r?.confidence ?? null,
    duration_s: r?.audio?.duration_s ?? null,
    windows: s?.windows ?? null,
    ai_windows: s?.ai_windows ?? null,
    human_windows: s?.human_windows ?? null,
    uncertain_windows: s?.uncertain_windows ?? null,
    ai_share: s?.ai_share ?? null,
    tier: report?.tier ?? null,
    limited: report?.limited ?? null,
    task_id: job.taskId,
    error_title: job.problem?.title ?? null,
    error_detail: job.problem?.detail ?? null,
  };
}

export function renderSummary(tbody, jobs) {
  tbody.replaceChildren(
    ...jobs.map((job) => {
      const x = record(job);
      const verdict = x.verdict
        ? VERDICTS[x.verdict]
        : x.status === "failed"
          ? `Error: ${x.error_title}`
          : "…";
      return el(
        "tr",
        { "data-state": job.state },
        el("th", { scope: "row" }, el("a", { href: `#${job.id}` }, x.file_name)),
        el("td", {}, verdict),
        el("td", { class: "num" }, pct(x.ai_probability, 1)),
        el("td", { class: "num" }, pct(x.confidence)),
        el("td", { class: "num" }, x.duration_s == null ? "–" : secs(x.duration_s)),
        el("td", { class: "num" }, x.windows == null ? "–" : `${x.ai_windows} / ${x.windows}`),
      );
    }),
  );
}

// RFC 4180 quoting; a leading = + - @ is defused so a spreadsheet never runs a file name as a formula.
function cell(v) {
  if (v == null) return "";
  let s = String(v);
  if (typeof v === "string" && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function toCsv(jobs) {
  const lines = [COLUMNS.join(",")];
  for (const job of jobs) {
    const x = record(job);
    lines.push(COLUMNS.map((c) => cell(x[c])).join(","));
  }
  return `${lines.join("\r\n")}\r\n`;
}

// The JSON export keeps each report as the API returned it (redacted for the tier), next to the file's name.
export function toJson(jobs) {
  const items = jobs.map((job) => ({
    file_name: job.file.name,
    size_bytes: job.file.size,
    status: job.finished ? job.state : "running",
    task_id: job.taskId,
    report: job.report,
    error: job.problem
      ? { type: job.problem.type, title: job.problem.title, status: job.problem.status, detail: job.problem.detail }
      : null,
  }));
  return JSON.stringify({ exported_at: new Date().toISOString(), files: items }, null, 2);
}

export function download(text, type, name) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000); // after the browser has started the download
}
