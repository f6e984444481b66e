/* A doctor's page (doctors/profile_page.html): the doctor's public accounts, every one (CL.pages
   follows `next`), and their follower counts. Uses CL (careloop.js). */
const CONFIG = document.currentScript.dataset;
const DOCTOR = Number(CONFIG.doctor);
const problems = document.getElementById("account-problems");
function showProblems(error) {
  problems.textContent = CL.errorText(error);
  problems.classList.remove("d-none");
}
async function send(url, body) {
  try {
    const data = await CL.api(url, {method: "POST", body});
    problems.classList.add("d-none");
    return data;
  } catch (error) {
    showProblems(error);
    return null;
  }
}
async function loadAccounts() {
  const rows = await CL.pages(CL.withParams(CONFIG.accountsUrl, {doctor: DOCTOR}));
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
  if (await send(CONFIG.accountsUrl, body)) { event.target.reset(); loadAccounts(); }
});
document.getElementById("followers-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = Object.fromEntries(new FormData(event.target));
  if (await send(`${CONFIG.accountsUrl}${form.account}/followers/`, {date: form.date, followers: form.followers})) loadAccounts();
});
document.getElementById("import-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  if (await send(`${CONFIG.accountsUrl}${form.get("account")}/import-followers/`, form)) loadAccounts();
});
loadAccounts().catch(showProblems);
