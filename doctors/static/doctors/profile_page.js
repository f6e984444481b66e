const CONFIG = document.currentScript.dataset;
const CSRF = CONFIG.csrf;
const DOCTOR = Number(CONFIG.doctor);
const problems = document.getElementById("account-problems");
function showProblems(data) {
  const lines = data.errors && Object.keys(data.errors).length ? Object.values(data.errors).flat() : [data.message];
  problems.textContent = lines.join(" ");
  problems.classList.remove("d-none");
}
async function send(url, options) {
  const response = await fetch(url, {...options, headers: {"X-CSRFToken": CSRF, ...(options.headers || {})}});
  const data = await response.json();
  if (!response.ok) { showProblems(data); return null; }
  problems.classList.add("d-none");
  return data;
}
async function loadAccounts() {
  const response = await fetch(`${CONFIG.accountsUrl}?page_size=200&doctor=${DOCTOR}`);
  const rows = (await response.json()).results;
  const body = document.getElementById("accounts");
  body.replaceChildren(...rows.map((a) => {
    const tr = document.createElement("tr");
    for (const text of [a.platform_label, a.name + (a.handle ? " @" + a.handle : ""), a.latest_followers ?? "—"]) {
      const td = document.createElement("td"); td.textContent = text; tr.append(td);
    }
    tr.append(document.createElement("td"));
    return tr;
  }));
  document.querySelectorAll("[data-accounts]").forEach((select) => {
    select.replaceChildren(...rows.map((a) => new Option(`${a.platform_label} · ${a.name}`, a.id)));
  });
}
document.getElementById("account-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const body = {doctor: DOCTOR, ...Object.fromEntries(form)};
  if (await send(CONFIG.accountsUrl, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})) { event.target.reset(); loadAccounts(); }
});
document.getElementById("followers-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = Object.fromEntries(new FormData(event.target));
  if (await send(`${CONFIG.accountsUrl}${form.account}/followers/`, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify({date: form.date, followers: form.followers})})) loadAccounts();
});
document.getElementById("import-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  if (await send(`${CONFIG.accountsUrl}${form.get("account")}/import-followers/`, {method: "POST", body: form})) loadAccounts();
});
loadAccounts();
