// The run page's tables: parameters (from the arguments and a sweep's hyperparameters), inputs, environment,
// attempts and faults, lists/rows/tables/images logged as metrics, and the status timeline.
import { fileUrl } from "./api.js";
import { dur, esc, fmt, runLink } from "./format.js";

// --name value pairs of the arguments; a flag alone is ""; a sweep trial's hyperparameters win
export function parameters(rd, props) {
  const params = {};
  const args = rd.arguments || [];
  for (let i = 0; i < args.length; i++) {
    if (String(args[i]).startsWith("-")) {
      const next = args[i + 1];
      const isValue = next !== undefined && !String(next).startsWith("--");
      params[args[i].replace(/^-+/, "")] = isValue ? next : "";
      if (isValue) i++;
    }
  }
  if (props.hyperparameters) {
    try {
      Object.entries(JSON.parse(props.hyperparameters)).forEach(([k, v]) => { params[k.replace(/^-+/, "")] = v; });
    } catch (e) { /* not JSON */ }
  }
  return params;
}

// $AZUREML_DATAREFERENCE_x tokens as the data they stand for
export function resolvedArgs(rd) {
  return (rd.arguments || []).map((a) => String(a).replace(/\$AZUREML_DATAREFERENCE_(\w+)/g, (m, name) => {
    const ref = (rd.dataReferences || {})[name];
    return ref ? `${ref.datastore}/${ref.path_on_datastore || ""} (${ref.mode})` : m;
  })).join(" ");
}

// what the run asked for, and the exact versions the build resolved (the base interpreter's otherwise)
export function environmentCell(rd, props) {
  const env = rd.environment || {};
  const asked = [...(env.pip_packages || []), ...(env.conda_packages || [])];
  let resolved = [];
  try {
    resolved = JSON.parse(props["runyard.packages"] || "[]");
  } catch (e) {
    resolved = [String(props["runyard.packages"])];
  }
  if (!asked.length && !resolved.length) return `${esc(env.name || "default")}: the base interpreter`;
  return esc(env.name || "") + (asked.length ? `<br>requested: ${esc(asked.join(", "))}` : "")
    + (resolved.length ? `<br>resolved: ${esc(resolved.join(", "))}` : "");
}

// each data reference: datastore/path (mode) -> where the run found it on its node
export function inputsRow(rd, props) {
  const refs = Object.entries(rd.dataReferences || {});
  if (!refs.length) return "";
  let paths = {};
  try { paths = JSON.parse(props["runyard.inputs"] || "{}"); } catch (e) { /* not recorded */ }
  const one = ([name, ref]) => `${esc(name)}: ${esc(ref.datastore)}/${esc(ref.path_on_datastore || "")}`
    + ` (${esc(ref.mode)})${paths[name] ? ` → <code>${esc(paths[name])}</code>` : ""}`;
  return `<tr><td>Inputs</td><td id="inputs">${refs.map(one).join("<br>")}</td></tr>`;
}

const table = (title, body) => `<div class="objtable"><h4>${esc(title)}</h4>${body}</div>`;

// lists, rows, tables, images and lone strings: shown as what they are, not as charts
export function objectMetrics(values, runId) {
  const out = [];
  for (const [k, v] of Object.entries(values)) {
    if (typeof v === "string" && v.startsWith("outputs/images/")) {
      out.push(`<figure class="image"><img alt="${esc(k)}" data-src="${esc(fileUrl(runId, v))}">
        <figcaption>${esc(k)}</figcaption></figure>`);
    } else if (v && typeof v === "object" && !Array.isArray(v)) {
      const cols = Object.keys(v);
      const n = Math.max(...cols.map((c) => (Array.isArray(v[c]) ? v[c].length : 1)));
      const rows = [...Array(Math.min(n, 200)).keys()].map((i) =>
        `<tr>${cols.map((c) => `<td>${fmt(Array.isArray(v[c]) ? v[c][i] : v[c])}</td>`).join("")}</tr>`);
      out.push(table(k, `<table><thead><tr>${cols.map((c) => `<th>${esc(c)}</th>`).join("")}</tr></thead>
        <tbody>${rows.join("")}</tbody></table>`));
    } else if (Array.isArray(v) && v.some((x) => typeof x !== "number")) {
      const rows = v.slice(0, 200).map((x, i) => `<tr><td>${i}</td><td>${fmt(x)}</td></tr>`);
      out.push(table(k, `<table><tbody>${rows.join("")}</tbody></table>`));
    } else if (Array.isArray(v)) {
      out.push(table(k, `<table><tbody><tr>${v.slice(0, 200).map((x) => `<td>${fmt(x)}</td>`).join("")}</tr>
        </tbody></table>`));
    } else {
      out.push(table(k, `<p>${fmt(v)}</p>`));
    }
  }
  return out.join("");
}

export function timeline(history) {
  return history.map((e, i) => {
    const next = history[i + 1];
    const spent = next ? (new Date(next.time) - new Date(e.time)) / 1000 : null;
    const at = new Date(e.time).toLocaleTimeString();
    const took = spent != null ? ` · ${dur(spent)}` : "";
    return `<span title="${esc(e.time)}">${esc(e.status)} · ${esc(at)}${took}</span>`;
  }).join("");
}

// attempts (how each ended, where a restart resumed), an injected fault, what a rerun changed
export function resilienceRows(props) {
  const attempts = Object.keys(props).filter((k) => k.startsWith("runyard.attempt."))
    .sort((a, b) => Number(a.split(".")[2]) - Number(b.split(".")[2]))
    .map((k) => [k.split(".")[2], JSON.parse(props[k])]);
  const rows = [];
  if (attempts.length > 1 || attempts.some(([, a]) => a.requeued)) {
    const one = ([n, a]) => `${esc(n)}: ${esc(a.outcome)}`
      + (a.resumedFromStep != null ? ` (resumed from step ${esc(a.resumedFromStep)})` : "")
      + (a.requeued || []).map((r) =>
        `<br>&nbsp;&nbsp;requeued by the scheduler, resumed from step ${esc(r.resumedFromStep)}`).join("");
    rows.push(`<tr><td>Attempts</td><td id="attempts">${attempts.map(one).join("<br>")}</td></tr>`);
  }
  if (props["runyard.fault"]) {
    const f = JSON.parse(props["runyard.fault"]);
    const what = f.injected ? `at ${esc(f.seconds)} s, step ${esc(f.step)}` : esc(f.why || "");
    rows.push(`<tr><td>Injected</td><td id="fault">${esc(f.fault)}: ${what}</td></tr>`);
  }
  if (props["runyard.rerunOf"]) rows.push(`<tr><td>Rerun of</td><td>${runLink(props["runyard.rerunOf"])}</td></tr>`);
  if (props["runyard.rerunChanges"]) {
    const changes = JSON.parse(props["runyard.rerunChanges"]).map(esc).join("<br>");
    rows.push(`<tr><td>Rerun changes</td><td>${changes}</td></tr>`);
  }
  return rows.join("");
}
