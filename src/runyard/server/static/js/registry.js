// The Models view (registered models, deployed services) and the Data view (datastores, datasets).
import { api } from "./api.js";
import { esc, runLink, when } from "./format.js";
import { view } from "./page.js";

export async function modelsPage() {
  const [models, services] = await Promise.all([api("/models"), api("/services")]);
  const model = (m) => `<tr data-model="${esc(m.id)}"><td>${esc(m.name)}</td><td>${esc(m.version)}</td>
    <td>${esc(m.file)}</td><td>${m.runId ? runLink(m.runId) : "-"}</td><td>${when(m.createdTime)}</td>
    <td>${Object.entries(m.tags).map(([k, v]) => `${esc(k)}=${esc(v)}`).join(", ") || "-"}</td></tr>`;
  const service = (s) => `<tr data-service="${esc(s.name)}"><td>${esc(s.name)}</td><td>${esc(s.computeType)}</td>
    <td class="state-${esc(s.state)}">${esc(s.state)}</td><td><code>${esc(s.scoringUri)}</code></td>
    <td>${esc(s.models.join(", "))}</td></tr>`;
  view().innerHTML = `
    <div class="section"><h3>Registered models</h3><div class="scroll"><table id="models"><thead><tr><th>Name</th>
      <th>Version</th><th>File</th><th>From run</th><th>Registered</th><th>Tags</th></tr></thead>
      <tbody>${models.map(model).join("")}</tbody></table></div>
      ${models.length ? "" : `<p class="empty">No models yet: run.register_model(...) or Model.register(...)</p>`}</div>
    <div class="section"><h3>Deployed services</h3><div class="scroll"><table id="services"><thead><tr><th>Name</th>
      <th>Type</th><th>State</th><th>Scoring URI</th><th>Models</th></tr></thead>
      <tbody>${services.map(service).join("")}</tbody></table></div>
      ${services.length ? "" : `<p class="empty">No services: Model.deploy(...)</p>`}</div>`;
}

export async function dataPage() {
  const [stores, sets] = await Promise.all([api("/datastores"), api("/datasets")]);
  const datastore = (s) => `<tr data-datastore="${esc(s.name)}"><td>${esc(s.name)}</td><td>${esc(s.type)}</td>
    <td><code>${esc(s.root)}</code></td></tr>`;
  const dataset = (d) => `<tr data-dataset="${esc(d.name)}"><td>${esc(d.name)}</td><td>${esc(d.version)}</td>
    <td>${esc(d.kind)}</td><td>${esc(d.datastore)}</td><td><code>${esc(d.path)}</code></td>
    <td>${esc(d.description || "-")}</td></tr>`;
  view().innerHTML = `
    <div class="section"><h3>Datastores</h3><div class="scroll"><table id="datastores"><thead><tr><th>Name</th>
      <th>Type</th><th>Root</th></tr></thead><tbody>${stores.map(datastore).join("")}</tbody></table></div></div>
    <div class="section"><h3>Datasets</h3><div class="scroll"><table id="datasets"><thead><tr><th>Name</th>
      <th>Version</th><th>Kind</th><th>Datastore</th><th>Path</th><th>Description</th></tr></thead>
      <tbody>${sets.map(dataset).join("")}</tbody></table></div>
      ${sets.length ? "" : `<p class="empty">No datasets: Dataset.File.from_files((datastore, 'folder'))
        .register(ws, name)</p>`}</div>`;
}
