// Entry point: takes dropped or picked files, starts a Job per file, keeps the rows, the summary and the
// screen-reader status line current, and wires the exports.

import { VERDICTS } from "./format.js";
import { Job, MAX_UPLOADS, setMimeMap } from "./jobs.js";
import { createRow } from "./row.js";
import { download, renderSummary, toCsv, toJson } from "./summary.js";

const $ = (id) => document.getElementById(id);
const input = $("file-input");
const zone = $("dropzone");
const list = $("files");
const status = $("status");
const summaryBody = document.querySelector("#summary tbody");

const jobs = [];
const rows = new Map(); // job id → { row, update }
const announced = new Set(); // job ids whose outcome was announced

setMimeMap(JSON.parse(input.dataset.mimeMap || "{}"));
$("concurrency").textContent = String(MAX_UPLOADS);

// Announcements for screen readers: only the moments that matter (added, finished), not every percent.
function announce(text) {
  status.textContent = text;
}

// Summary redraws are batched to one per frame: ten files polling would otherwise redraw it constantly.
let pending = false;
function refreshSummary() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => {
    pending = false;
    renderSummary(summaryBody, jobs);
    const done = jobs.filter((j) => j.finished).length;
    $("summary-count").textContent = `${done} of ${jobs.length} files finished`;
    for (const id of ["export-csv", "export-json", "clear"]) $(id).disabled = done === 0;
    $("files-section").hidden = $("summary-section").hidden = jobs.length === 0;
  });
}

function onChange(job) {
  const r = rows.get(job.id);
  if (!r) return;
  r.update();
  if (job.finished && !announced.has(job.id)) {
    announced.add(job.id);
    const what =
      job.state === "failed"
        ? `failed: ${job.problem.title}`
        : VERDICTS[job.report.result.verdict] || job.report.result.verdict;
    announce(`${job.file.name}: ${what}.`);
  }
  refreshSummary();
}

function add(files) {
  const added = [];
  for (const file of files) {
    const job = new Job(file, onChange);
    const r = createRow(job);
    rows.set(job.id, r);
    jobs.push(job);
    list.append(r.row);
    r.update();
    added.push(job);
  }
  if (!added.length) return;
  announce(`${added.length} file${added.length > 1 ? "s" : ""} added.`);
  refreshSummary();
  for (const job of added) job.run(); // each Job waits for an upload slot on its own
}

input.addEventListener("change", () => {
  add(Array.from(input.files));
  input.value = ""; // picking the same file again is a new analysis
});

// Drag and drop: the zone shows it will take the files; a drop anywhere else must not navigate away.
let depth = 0;
zone.addEventListener("dragenter", (e) => {
  e.preventDefault();
  depth++;
  zone.classList.add("over");
});
zone.addEventListener("dragleave", () => {
  if (--depth <= 0) {
    depth = 0;
    zone.classList.remove("over");
  }
});
zone.addEventListener("dragover", (e) => {
  e.preventDefault();
  e.dataTransfer.dropEffect = "copy";
});
zone.addEventListener("drop", (e) => {
  e.preventDefault();
  depth = 0;
  zone.classList.remove("over");
  add(Array.from(e.dataTransfer.files));
});
for (const ev of ["dragover", "drop"]) window.addEventListener(ev, (e) => e.preventDefault());

const stamp = () => new Date().toISOString().slice(0, 19).replaceAll(":", "-");
$("export-csv").addEventListener("click", () => download(toCsv(jobs), "text/csv", `synthscope-${stamp()}.csv`));
$("export-json").addEventListener("click", () =>
  download(toJson(jobs), "application/json", `synthscope-${stamp()}.json`),
);

// Finished rows go; their object URLs are released so the files can be garbage-collected.
$("clear").addEventListener("click", () => {
  for (let i = jobs.length - 1; i >= 0; i--) {
    const job = jobs[i];
    if (!job.finished) continue;
    if (job.objectUrl) URL.revokeObjectURL(job.objectUrl);
    rows.get(job.id).row.remove();
    rows.delete(job.id);
    jobs.splice(i, 1);
  }
  announce("Finished files cleared.");
  refreshSummary();
  input.focus();
});

document.documentElement.dataset.ready = "true"; // the modules loaded: tests wait for this
