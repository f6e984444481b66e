/* Doctor onboarding (doctors/onboarding_page.html): the watch list, every onboarding (CL.pages
   follows `next`), and a new one POSTed with its licence file. Uses CL (careloop.js). */
const CONFIG = document.currentScript.dataset;
const API = CONFIG.api;
const NAMES = JSON.parse(document.getElementById("doctor-names").textContent);
const SOURCES = JSON.parse(document.getElementById("source-labels").textContent);
const YES = CONFIG.yes, NO = CONFIG.no, VIEW = CONFIG.view;
function row(values) {
  const tr = document.createElement("tr");
  for (const v of values) { const td = document.createElement("td"); if (v instanceof Node) td.append(v); else td.textContent = v ?? "—"; tr.append(td); }
  return tr;
}
const problems = document.getElementById("ob-problems");
function showProblems(error) { problems.textContent = CL.errorText(error); problems.classList.remove("d-none"); }
async function load() {
  const [watch, rows] = await Promise.all([CL.api(API + "watch-list/"), CL.pages(API)]);
  document.getElementById("watch").replaceChildren(...watch.map((w) => row([w.name, w.day, w.patients, w.followups_done, w.unanswered, w.mean_response_hours, w.verified ? YES : NO, w.trained ? YES : NO])));
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
  try {
    await CL.api(API, {method: "POST", body: form});
  } catch (error) {
    showProblems(error);
    return;
  }
  problems.classList.add("d-none"); event.target.reset(); load().catch(showProblems);
});
load().catch(showProblems);
