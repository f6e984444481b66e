/* The assistant's workbench: the list comes from /api/patients/ with the filters of the URL;
   changing a filter updates the URL (bookmarkable) and the list. The search text (a name, a
   phone number) never goes into a URL: it is kept in this tab's sessionStorage and sent to the
   API in the X-Search header, so it reaches neither the access log nor the history.
   The selection is rows the user sees: a new page or filter keeps only the rows still shown,
   and a successful bulk action clears it, so an action never reaches a hidden row. */
(function () {
  "use strict";
  const cfg = CL.config();
  const L = cfg.labels;
  const API = "/api/patients/";
  const form = document.getElementById("filters");
  const rows = document.getElementById("patient-rows");
  const count = document.getElementById("patient-count");
  const pageInfo = document.getElementById("page-info");
  const statusLine = document.getElementById("status");
  const bulk = document.getElementById("bulk");
  const selectAll = document.getElementById("select-all");
  const selected = new Set();
  const SEARCH_KEY = "careloop.workbench.q";
  const searchBox = document.getElementById("f-q");
  const fromUrl = new URLSearchParams(location.search);
  if (fromUrl.has("q")) {  // an old bookmark: move its search out of the address bar
    sessionStorage.setItem(SEARCH_KEY, fromUrl.get("q"));
    fromUrl.delete("q");
    history.replaceState(null, "", location.pathname + (fromUrl.toString() ? "?" + fromUrl : ""));
  }
  searchBox.value = sessionStorage.getItem(SEARCH_KEY) || "";
  let page = Number(fromUrl.get("page")) || 1;
  let pages = 1;
  let timer = null;
  let shownKey = null;

  /* The form's fields are the API's filter names; tags travel as one comma list. */
  function params() {
    const out = new URLSearchParams();
    const tags = [];
    for (const [key, value] of new FormData(form)) {
      if (!value) continue;
      if (key === "tag") tags.push(value);
      else out.append(key, value);
    }
    if (tags.length) out.set("tag", tags.join(","));
    const fieldFilter = fieldParam();
    if (fieldFilter) out.set("field", fieldFilter);
    if (!tags.length || out.get("tag_match") === "any") out.delete("tag_match");
    if (out.get("ordering") === "-created_at") out.delete("ordering");
    return out;
  }

  /* The clinic's own fields: one at a time here, `<id>:<value>` or `<id>:<from>..<to>` for
     dates and numbers (the API takes several). */
  const fieldSelect = document.getElementById("f-field");
  const fieldFrom = document.getElementById("f-field-from");
  const fieldTo = document.getElementById("f-field-to");
  function fieldKind() {
    const option = fieldSelect && fieldSelect.selectedOptions[0];
    return option ? option.dataset.kind || "" : "";
  }
  function fieldInputs() {
    if (!fieldSelect) return;
    const kind = fieldKind();
    const ranged = kind === "date" || kind === "number";
    fieldFrom.type = kind === "date" ? "date" : "text";
    fieldTo.type = kind === "date" ? "date" : "text";
    fieldTo.hidden = !ranged;
    const options = fieldSelect.selectedOptions[0] && fieldSelect.selectedOptions[0].dataset.options;
    fieldFrom.title = options || "";
  }
  function fieldParam() {
    if (!fieldSelect || !fieldSelect.value) return "";
    const low = fieldFrom.value.trim();
    const high = fieldTo.hidden ? "" : fieldTo.value.trim();
    if (!low && !high) return "";
    return fieldSelect.value + ":" + (high ? low + ".." + high : low);
  }
  if (fieldSelect) {
    fieldInputs();
    fieldSelect.addEventListener("change", fieldInputs);
  }

  function searchHeaders() {
    const text = searchBox.value.trim();
    return text ? { "X-Search": encodeURIComponent(text) } : {};
  }

  function updateTagSummary() {
    const names = [...form.querySelectorAll("input[name=tag]:checked")].map((i) => i.dataset.name);
    document.getElementById("tag-summary").textContent =
      names.length ? names.join("、") : document.getElementById("tag-summary").dataset.empty;
  }

  function syncUrl(query) {
    const withPage = new URLSearchParams(query);
    if (page > 1) withPage.set("page", page);
    const qs = withPage.toString();
    history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
    for (const [id, file] of [["export-csv", "csv"], ["export-xlsx", "xlsx"]]) {
      const exportQuery = new URLSearchParams(query);
      exportQuery.set("file", file);
      document.getElementById(id).href = API + "export/?" + exportQuery.toString();
    }
  }

  function tagChip(tag) {
    return CL.el("span", { class: "cl-tag cl-tag-g" + (tag.group % 4), text: tag.name });
  }

  function row(p) {
    const box = CL.el("input", { type: "checkbox", class: "form-check-input", "data-id": p.id,
      "aria-label": p.name });
    box.checked = selected.has(p.id);
    box.addEventListener("change", () => {
      box.checked ? selected.add(p.id) : selected.delete(p.id);
      updateBulk();
    });
    return CL.el("tr", { "data-testid": "patient-row" }, [
      CL.el("td", {}, box),
      CL.el("td", {}, CL.el("a", { href: "/patients/" + p.id + "/", class: "fw-semibold", text: p.name })),
      CL.el("td", { class: "font-monospace", text: p.phone_masked || "—" }),
      CL.el("td", {}, CL.el("span", { class: "cl-stage cl-stage-" + p.stage, text: p.stage_display })),
      CL.el("td", {}, p.tags.map(tagChip)),
      CL.el("td", { class: "small", text: cfg.sources[p.source] || p.source }),
      CL.el("td", { class: "small", text: cfg.doctors[String(p.assigned_doctor)] || "—" }),
      CL.el("td", { class: "small text-nowrap", text: p.last_visit_date || "—" }),
    ]);
  }

  async function load() {
    const query = params();
    const text = searchBox.value.trim();
    const key = query.toString() + "#" + text + "#" + page;
    if (key !== shownKey) { selected.clear(); updateBulk(); }  // rows about to go out of sight
    shownKey = key;
    text ? sessionStorage.setItem(SEARCH_KEY, text) : sessionStorage.removeItem(SEARCH_KEY);
    syncUrl(query);
    loadCounts(query);
    const apiQuery = new URLSearchParams(query);
    apiQuery.set("page", page);
    rows.replaceChildren(CL.el("tr", {}, CL.el("td", { colspan: 8, class: "text-secondary p-4", text: L.loading })));
    try {
      const data = await CL.api(API + "?" + apiQuery.toString(), { headers: searchHeaders() });
      count.textContent = data.count;
      pages = Math.max(1, Math.ceil(data.count / 25));
      pageInfo.textContent = CL.fmt(L.page, { page, pages });
      document.getElementById("prev").disabled = !data.previous;
      document.getElementById("next").disabled = !data.next;
      rows.replaceChildren(...(data.results.length ? data.results.map(row)
        : [CL.el("tr", {}, CL.el("td", { colspan: 8, class: "text-secondary p-4 text-center", text: L.empty }))]));
      const shown = new Set(data.results.map((p) => p.id));
      for (const id of [...selected]) if (!shown.has(id)) selected.delete(id);
      updateBulk();
      selectAll.checked = data.results.length > 0 && data.results.every((p) => selected.has(p.id));
    } catch (error) {
      if (error.status === 404 && page > 1) { page = 1; return load(); }
      CL.status(statusLine, CL.errorText(error), "danger");
    }
  }

  /* Patients per stage for the other filters: each chip switches the stage filter. */
  async function loadCounts(query) {
    const counts = new URLSearchParams(query);
    const stageSelect = document.getElementById("f-stage");
    try {
      const data = await CL.api(API + "counts/?" + counts.toString(), { headers: searchHeaders() });
      const chip = (value, label, n) => {
        const active = stageSelect.value === value;
        return CL.el("button", { type: "button", "aria-pressed": String(active),
          class: "btn btn-sm " + (active ? "btn-primary" : "btn-outline-secondary"),
          onclick: () => { stageSelect.value = value; page = 1; load(); } },
          [label + " ", CL.el("span", { class: "badge text-bg-light", text: n })]);
      };
      document.getElementById("stage-counts").replaceChildren(
        chip("", L.allStages, data.total),
        ...Object.entries(cfg.stages).map(([value, label]) => chip(value, label, data.by_stage[value] || 0)));
    } catch (error) {
      CL.status(statusLine, CL.errorText(error), "danger");
    }
  }

  function updateBulk() {
    bulk.hidden = selected.size === 0;
    // Read by the actions other apps add to the bar (the follow-ups' "start a care plan").
    bulk.dataset.selected = [...selected].join(",");
    document.getElementById("selected-count").textContent = CL.fmt(L.selected, { n: selected.size });
  }

  function reloadSoon() {
    clearTimeout(timer);
    timer = setTimeout(() => { page = 1; load(); }, 250);
  }

  // Another app's bulk action changed the selected patients: show the list as it is now.
  document.addEventListener("cl:changed", () => { selected.clear(); load(); });
  form.addEventListener("submit", (event) => { event.preventDefault(); page = 1; load(); });
  form.addEventListener("change", (event) => {
    if (event.target.name === "tag") updateTagSummary();
    reloadSoon();
  });
  searchBox.addEventListener("input", reloadSoon);
  /* An export with a search is fetched with the search header and saved from memory. */
  for (const id of ["export-csv", "export-xlsx"]) {
    const link = document.getElementById(id);
    link.addEventListener("click", async (event) => {
      if (!searchBox.value.trim()) return;
      event.preventDefault();
      try {
        const response = await fetch(link.href, { credentials: "same-origin", headers: searchHeaders() });
        if (!response.ok) throw new CL.ApiError(await response.json().catch(() => null), response.status);
        const name = (response.headers.get("Content-Disposition") || "").match(/filename="([^"]+)"/);
        const url = URL.createObjectURL(await response.blob());
        const save = CL.el("a", { href: url, download: name ? name[1] : "patients" });
        document.body.append(save);
        save.click();
        save.remove();
        setTimeout(() => URL.revokeObjectURL(url), 10000);
      } catch (error) {
        CL.status(statusLine, CL.errorText(error), "danger");
      }
    });
  }
  document.getElementById("prev").addEventListener("click", () => { if (page > 1) { page -= 1; load(); } });
  document.getElementById("next").addEventListener("click", () => { if (page < pages) { page += 1; load(); } });
  selectAll.addEventListener("change", () => {
    for (const box of rows.querySelectorAll("input[data-id]")) {
      box.checked = selectAll.checked;
      const id = Number(box.dataset.id);
      selectAll.checked ? selected.add(id) : selected.delete(id);
    }
    updateBulk();
  });

  bulk.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(bulk);
    const body = { ids: [...selected] };
    if (data.get("add_tags")) body.add_tags = [Number(data.get("add_tags"))];
    if (data.get("remove_tags")) body.remove_tags = [Number(data.get("remove_tags"))];
    if (data.get("stage")) body.stage = data.get("stage");
    if (data.get("assigned_doctor")) body.assigned_doctor = Number(data.get("assigned_doctor"));
    try {
      const result = await CL.api(API + "bulk/", { method: "POST", body });
      CL.status(statusLine, CL.fmt(L.changed, result), "success");
      bulk.reset();
      selected.clear();
      load();
    } catch (error) {
      CL.status(statusLine, CL.errorText(error), "danger");
    }
  });

  const summary = document.getElementById("tag-summary");
  summary.dataset.empty = summary.textContent;
  updateTagSummary();
  load();
})();
