// A file's row: name, stage and progress while it runs; then the verdict, the timeline with a player, the
// explanation and the audio details, or the problem that stopped it. Built once, then updated in place.

import { bytes, el, eta, pct, REASONS, secs, STAGES, VERDICTS } from "./format.js";
import { timelineView } from "./timeline.js";

export function createRow(job) {
  const stage = el("span", { class: "job-stage" });
  const bar = el("progress", { max: 100, value: 0, "aria-label": `${job.file.name}: progress` });
  const verdict = el("span", { class: "verdict", hidden: true });
  const body = el("div", { class: "job-body" });
  const row = el(
    "li",
    { class: "job", id: job.id, "data-state": job.state },
    el(
      "div",
      { class: "job-head" },
      el("h3", { class: "job-name" }, job.file.name),
      el("span", { class: "job-size" }, bytes(job.file.size)),
      verdict,
    ),
    el("div", { class: "job-progress" }, bar, stage),
    body,
  );
  let rendered = false;

  function update() {
    row.dataset.state = job.state;
    if (job.finished) {
      if (!rendered) finish(job, { row, bar, stage, verdict, body });
      rendered = true;
      return;
    }
    const phase = STAGES[job.stage] || job.stage;
    const showPct = job.stage === "uploading" || job.stage === "analyzing";
    const text = [showPct ? `${phase} ${Math.floor(job.percent)}%` : phase, eta(job.eta), job.note].filter(Boolean);
    stage.textContent = text.join(" · ");
    if (showPct) bar.value = job.percent;
    else bar.removeAttribute("value"); // indeterminate while waiting on something without a percentage
    bar.setAttribute("aria-label", `${job.file.name}: ${phase}`);
  }
  return { row, update };
}

function finish(job, { row, bar, stage, verdict, body }) {
  row.querySelector(".job-progress").hidden = true;
  bar.value = 100;
  stage.textContent = "";
  if (job.state === "failed") {
    const p = job.problem;
    verdict.hidden = false;
    verdict.dataset.verdict = "error";
    verdict.textContent = "Error";
    body.append(
      el(
        "div",
        { class: "job-error" },
        el("p", {}, el("strong", {}, p.title), p.status ? ` (HTTP ${p.status})` : ""),
        p.detail ? el("p", { class: "detail" }, p.detail) : null,
      ),
    );
    return;
  }
  const report = job.report;
  const r = report.result;
  verdict.hidden = false;
  verdict.dataset.verdict = r.verdict;
  verdict.textContent =
    r.verdict === "not_applicable" ? VERDICTS.not_applicable : `${VERDICTS[r.verdict]} · AI ${pct(r.ai_probability)}`;
  if (r.verdict === "not_applicable") {
    row.dataset.state = "na";
    const why = REASONS[r.reason] || r.reason || "no reason was given";
    body.append(
      el(
        "div",
        { class: "job-error" },
        el("p", {}, el("strong", {}, "Not analysed: "), `${why} (${secs(r.audio?.duration_s)}).`),
      ),
    );
    return;
  }
  const audio = el("audio", { controls: true, preload: "metadata", "aria-label": `Play ${job.file.name}` });
  audio.src = URL.createObjectURL(job.file); // the local file itself: nothing is downloaded back
  job.objectUrl = audio.src;
  const parts = [
    el(
      "p",
      { class: "scores" },
      `AI probability ${pct(r.ai_probability, 1)} (calibrated)`,
      r.confidence != null ? ` · confidence ${pct(r.confidence)}` : "",
      ` · ${windowsLine(r.summary)}`,
    ),
    report.limited ? limitedNotice(report) : null,
    r.degraded?.length ? el("p", { class: "notice" }, `Left out of this analysis: ${r.degraded.join(", ")}.`) : null,
    audio,
    timelineView(r, { tier: report.tier, audio }),
    r.explanation?.length ? section("Why", el("ul", {}, r.explanation.map((line) => el("li", {}, line)))) : null,
    r.detectors?.length ? section("Detectors", detectorTable(r.detectors)) : null,
    section("Audio", info(r, report)),
  ];
  body.append(...parts.filter(Boolean)); // append() would print a null as the text "null"
}

function windowsLine(s) {
  if (!s) return "";
  const parts = [`${s.ai_windows} AI`, `${s.human_windows} human`, `${s.uncertain_windows} uncertain`];
  if (s.silent_windows) parts.push(`${s.silent_windows} silent`);
  return `${s.windows} window${s.windows === 1 ? "" : "s"}: ${parts.join(", ")}`;
}

// What the tier's redaction withheld, read from the redacted result itself (limited, tier, counts left).
function limitedNotice(report) {
  const r = report.result;
  const tier = report.tier;
  const hidden = [];
  const shown = r.timeline.length;
  if (r.summary && shown < r.summary.windows) {
    const until = r.timeline.at(-1)?.end ?? 0;
    const left = `${r.summary.windows - shown} of ${r.summary.windows} windows`;
    hidden.push(`the timeline after ${secs(until)} (${left}; the verdict still covers the whole file)`);
  }
  if (!r.detectors.length) {
    const names = r.model?.detectors?.length ? ` (${r.model.detectors.join(", ")})` : "";
    hidden.push(`the per-detector scores${names}`);
    hidden.push("the explanation");
  }
  return el(
    "div",
    { class: "notice limited" },
    el("p", {}, el("strong", {}, `Limited view (${tier} tier). `), `Hidden: ${hidden.join("; ")}.`),
    el("p", {}, "Paid tiers see the full report: every window, every detector and the explanation."),
  );
}

function section(title, content) {
  return el("section", { class: "job-section" }, el("h4", {}, title), content);
}

function detectorTable(detectors) {
  return el(
    "table",
    { class: "detectors" },
    el(
      "thead",
      {},
      el("tr", {}, ["Detector", "AI probability", "Weight", "Status"].map((h) => el("th", { scope: "col" }, h))),
    ),
    el(
      "tbody",
      {},
      detectors.map((d) =>
        el(
          "tr",
          {},
          el("th", { scope: "row" }, `${d.name} ${d.version}`),
          el("td", {}, pct(d.ai_probability, 1)),
          el("td", {}, d.weight.toFixed(2)),
          el("td", {}, d.error ? `${d.status}: ${d.error}` : d.status),
        ),
      ),
    ),
  );
}

function info(r, report) {
  const a = r.audio;
  const rows = [
    ["Duration", secs(a.duration_s)],
    ["Format", `${a.format}, ${a.sample_rate} Hz, ${a.channels === 1 ? "mono" : `${a.channels} channels`}`],
    ["Size", bytes(a.size_bytes)],
    ["SHA-256", a.sha256],
    ["Model", `${r.model.bundle} ${r.model.version} (${r.model.profile})`],
    ["Analysis time", `${(r.timing.total_ms / 1000).toFixed(2)} s`],
    ["Report", report.task_id],
  ];
  return el("dl", { class: "info" }, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
}
