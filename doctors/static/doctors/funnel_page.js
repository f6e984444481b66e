const CONFIG = document.currentScript.dataset;
const LABELS = {
  followers_gained: CONFIG.labelFollowersGained,
  added: CONFIG.labelAdded,
  converted: CONFIG.labelConverted,
  visited: CONFIG.labelVisited,
  revisited: CONFIG.labelRevisited,
  cost_per_patient: CONFIG.labelCostPerPatient,
  platform_label: CONFIG.labelPlatformLabel,
  topic: CONFIG.labelTopic,
  connect: CONFIG.labelConnect,
  understand: CONFIG.labelUnderstand,
  trust: CONFIG.labelTrust,
  act: CONFIG.labelAct,
  refer: CONFIG.labelRefer,
};
const FIGURES = ["added", "converted", "visited", "revisited", "cost_per_patient"];
const chart = echarts.init(document.getElementById("trust-chart"));
function cells(tr, values, tag) {
  for (const v of values) { const td = document.createElement(tag || "td"); td.textContent = v ?? "—"; tr.append(td); }
  return tr;
}
function table(headId, bodyId, rows, first) {
  const keys = [first, ...(first === "topic" ? [] : ["followers_gained"]), ...FIGURES];
  document.getElementById(headId).replaceChildren(cells(document.createElement("tr"), keys.map((k) => LABELS[k]), "th"));
  document.getElementById(bodyId).replaceChildren(...rows.map((r) => cells(document.createElement("tr"), keys.map((k) => r[k]))));
}
async function load() {
  const params = new URLSearchParams({doctor: CONFIG.doctor});
  for (const id of ["start", "end"]) { const v = document.getElementById(id).value; if (v) params.set(id, v); }
  const response = await fetch(CONFIG.funnelUrl + "?" + params);
  const data = await response.json();
  const problems = document.getElementById("funnel-problems");
  if (!response.ok) { problems.textContent = Object.values(data.errors || {}).flat().join(" ") || data.message; problems.classList.remove("d-none"); return; }
  problems.classList.add("d-none");
  document.getElementById("start").value = data.start; document.getElementById("end").value = data.end;
  const doctor = data.doctors[0];
  const summary = document.getElementById("summary");
  summary.replaceChildren(...["followers_gained", ...FIGURES].map((k) => {
    const tr = cells(document.createElement("tr"), [LABELS[k], doctor[k]]);
    tr.lastChild.dataset.testid = k; return tr;
  }));
  chart.setOption({
    animation: false,
    tooltip: {trigger: "item", renderMode: "richText"},  // drawn, not HTML: the CSP
    series: [{type: "funnel", sort: "none", minSize: "10%", label: {formatter: "{b}: {c}"},
      data: Object.entries(doctor.trust).map(([k, v]) => ({name: LABELS[k], value: v}))}],
  });
  table("platform-head", "platforms", data.platforms, "platform_label");
  table("post-head", "posts", data.posts, "topic");
}
document.getElementById("period").addEventListener("submit", (event) => { event.preventDefault(); load(); });
load();
