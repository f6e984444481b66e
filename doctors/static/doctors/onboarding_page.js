const CONFIG = document.currentScript.dataset;
const CSRF = CONFIG.csrf;
const API = CONFIG.api;
const NAMES = JSON.parse(document.getElementById("doctor-names").textContent);
const SOURCES = JSON.parse(document.getElementById("source-labels").textContent);
const YES = CONFIG.yes, NO = CONFIG.no, VIEW = CONFIG.view;
function row(values) {
  const tr = document.createElement("tr");
  for (const v of values) { const td = document.createElement("td"); if (v instanceof Node) td.append(v); else td.textContent = v ?? "—"; tr.append(td); }
  return tr;
}
async function load() {
  const watch = await (await fetch(API + "watch-list/")).json();
  document.getElementById("watch").replaceChildren(...watch.map((w) => row([w.name, w.day, w.patients, w.followups_done, w.unanswered, w.mean_response_hours, w.verified ? YES : NO, w.trained ? YES : NO])));
  const rows = (await (await fetch(API + "?page_size=200")).json()).results;
  document.getElementById("onboardings").replaceChildren(...rows.map((o) => {
    let licence = NO;
    if (o.has_licence) { licence = document.createElement("a"); licence.href = `${CONFIG.onboardingUrl}${o.id}/licence/`; licence.textContent = VIEW; }
    return row([NAMES[o.profile], SOURCES[o.recruitment_source], o.hospital, licence, o.verified ? YES : NO, o.trained ? YES : NO]);
  }));
}
document.getElementById("onboarding-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  for (const key of ["licence_file", "registry_checked_on", "started_on"]) {
    const v = form.get(key); if (!v || (v instanceof File && !v.size)) form.delete(key);
  }
  for (const key of ["army_hospital", "trained_product", "trained_services", "trained_settlement"]) if (!form.get(key)) form.set(key, "false");
  const response = await fetch(API, {method: "POST", headers: {"X-CSRFToken": CSRF}, body: form});
  const data = await response.json();
  const problems = document.getElementById("ob-problems");
  if (!response.ok) { problems.textContent = Object.values(data.errors || {}).flat().join(" ") || data.message; problems.classList.remove("d-none"); return; }
  problems.classList.add("d-none"); event.target.reset(); load();
});
load();
