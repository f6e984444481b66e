/* The retention dashboard: figures from /api/dashboard/ for the period and filters of the URL;
   charts with ECharts (served from npm's package, no CDN). */
(function () {
  "use strict";
  const cfg = CL.config();
  const L = cfg.labels;
  const form = document.getElementById("filters");
  const statusLine = document.getElementById("status");
  const charts = {
    sources: echarts.init(document.getElementById("chart-sources")),
    funnel: echarts.init(document.getElementById("chart-funnel")),
  };
  const teal = ["#0f766e", "#f59e0b", "#6366f1", "#ef4444"];

  function params() {
    const out = new URLSearchParams();
    for (const [key, value] of new FormData(form)) if (value) out.append(key, value);
    return out;
  }
  function set(id, main, sub) {
    document.getElementById("kpi-" + id).textContent = main;
    document.getElementById("kpi-" + id + "-sub").textContent = sub || "";
  }

  function renderKpis(d) {
    set("revisit", CL.percent(d.revisit.rate), CL.fmt(L.revisitSub, d.revisit));
    set("churn", d.churn.patients, CL.fmt(L.churnSub, d.churn));
    set("risk", d.at_risk.patients, CL.fmt(L.riskSub, d.at_risk));
    set("referral", CL.percent(d.referral.rate), CL.fmt(L.referralSub, d.referral));
    const s = d.satisfaction;
    if (!s.sent && !s.answered) set("satisfaction", "—", L.noSurveys);
    else set("satisfaction", s.mean_score === null ? "—" : s.mean_score.toFixed(2) + " / 5",
      CL.fmt(L.responseSub, { rate: CL.percent(s.response_rate), answered: s.answered, sent: s.sent }));
  }

  /* The follow-ups app's figures: tasks have no tag or channel, so with either filter the
     card says it is not narrowed by them instead of passing for the filtered patients. */
  async function loadFollowups(query, ticket) {
    const own = new URLSearchParams();
    for (const key of ["start", "end", "doctor"]) if (query.has(key)) own.set(key, query.get(key));
    document.getElementById("kpi-followups-note").hidden = !(query.has("tag") || query.has("source"));
    try {
      const f = await CL.api("/api/followup-figures/?" + own.toString());
      if (ticket !== latest) return;
      document.getElementById("kpi-followups-unreachable").hidden = true;
      if (!f.due) { set("followups", "—", L.noneDue); return; }
      set("followups", CL.percent(f.timeliness), CL.fmt(L.followupsSub, f));
      const unreachable = document.getElementById("kpi-followups-unreachable");
      unreachable.textContent = CL.fmt(unreachable.dataset.label,
        { unreachable: f.unreachable, rate: CL.percent(f.unreachable_share) });
      unreachable.hidden = false;
      if (f.median_delay_hours !== null) {  // its own line: the card is narrow
        document.getElementById("kpi-followups-sub").append(CL.el("br"),
          CL.fmt(L.medianDelay, { hours: f.median_delay_hours.toFixed(1) }));
      }
    } catch (error) {
      if (ticket === latest) set("followups", "—", CL.errorText(error));
    }
  }

  /* The no-show rate, from the followups app's /api/appointment-figures/. */
  async function loadNoShows(query, ticket) {
    const own = new URLSearchParams();
    for (const key of ["start", "end", "doctor"]) if (query.has(key)) own.set(key, query.get(key));
    const card = document.getElementById("noshow-card").dataset;
    try {
      const f = await CL.api("/api/appointment-figures/?" + own.toString());
      if (ticket !== latest) return;
      if (!f.due) { set("noshow", "—", card.labelNone); return; }
      set("noshow", CL.percent(f.no_show_rate), CL.fmt(card.labelSub, f));
    } catch (error) {
      if (ticket === latest) set("noshow", "—", CL.errorText(error));
    }
  }

  /* Channel quality per code, from the wechat app's /api/channel-figures/: the period and
     revisit window only (codes are counted for the whole clinic). */
  async function loadChannels(query, ticket) {
    const own = new URLSearchParams();
    for (const key of ["start", "end", "window_days"]) if (query.has(key)) own.set(key, query.get(key));
    const card = document.getElementById("channel-card").dataset;
    const body = document.getElementById("channel-rows");
    const note = (text) => CL.el("tr", {}, CL.el("td", { colspan: "4", class: "text-secondary", text: text }));
    try {
      const f = await CL.api("/api/channel-figures/?" + own.toString());
      if (ticket !== latest) return;
      if (!f.codes.length) { body.replaceChildren(note(card.labelNone)); return; }
      body.replaceChildren(...f.codes.map((c) => CL.el("tr", {}, [
        CL.el("td", { text: c.name + (c.is_active ? "" : " (" + card.labelInactive + ")") }),
        CL.el("td", { class: "text-end", text: c.arrived }),
        CL.el("td", { class: "text-end fw-semibold", text: c.revisit_rate === null ? "—" : CL.percent(c.revisit_rate) }),
        CL.el("td", { class: "text-secondary", text: CL.fmt(card.labelCounts, c) }),
      ])));
    } catch (error) {
      if (ticket === latest) body.replaceChildren(note(CL.errorText(error)));
    }
  }

  function renderSources(rows) {
    charts.sources.setOption({
      color: teal,
      tooltip: { trigger: "axis", renderMode: "richText" },  // drawn, not HTML: the CSP
      legend: { top: 0 },
      grid: { left: 40, right: 50, bottom: 30, top: 40 },
      xAxis: { type: "category", data: rows.map((r) => r.label), axisLabel: { interval: 0 } },
      yAxis: [{ type: "value", name: L.newPatients, minInterval: 1 },
        { type: "value", max: 100, axisLabel: { formatter: "{value}%" } }],
      series: [
        { name: L.newPatients, type: "bar", barMaxWidth: 36, data: rows.map((r) => r.new_patients) },
        { name: L.revisitRate, type: "line", yAxisIndex: 1, connectNulls: false,
          data: rows.map((r) => (r.revisit_rate === null ? null : +(r.revisit_rate * 100).toFixed(1))) },
      ],
    }, true);
  }

  function renderFunnel(stages) {
    const journey = stages.filter((s) => "reached" in s);
    charts.funnel.setOption({
      color: ["#99f6e4", "#0f766e"],
      tooltip: { trigger: "axis", renderMode: "richText", formatter: (items) => {
        const s = journey[items[0].dataIndex];
        return s.label + "\n" + L.reached + ": " + s.reached + "\n" + L.now + ": " + s.now +
          (s.to_next === undefined ? "" : "\n→ " + CL.percent(s.to_next));
      } },
      legend: { top: 0 },
      grid: { left: 70, right: 110, bottom: 20, top: 30 },
      yAxis: { type: "category", inverse: true, data: journey.map((s) => s.label) },
      xAxis: { type: "value", minInterval: 1 },
      series: [
        { name: L.reached, type: "bar", data: journey.map((s) => s.reached),
          label: { show: true, position: "right", formatter: (p) => {
            const s = journey[p.dataIndex];
            return s.to_next === undefined || s.to_next === null ? String(s.reached) : s.reached + "  → " + CL.percent(s.to_next);
          } } },
        { name: L.now, type: "bar", data: journey.map((s) => s.now) },
      ],
    }, true);
  }

  function heat(value) {
    if (value === null || value === undefined) return "";
    const alpha = Math.min(1, 0.08 + value * 0.9);
    return "background: rgba(15,118,110," + alpha.toFixed(2) + "); color: " + (value > 0.5 ? "#fff" : "#0f172a");
  }

  function renderCohorts(cohorts) {
    const table = document.getElementById("cohorts");
    if (!cohorts.length) {
      table.replaceChildren(CL.el("tbody", {}, CL.el("tr", {}, CL.el("td", { class: "text-secondary text-start", text: L.notEnough }))));
      return;
    }
    const width = Math.min(13, Math.max(...cohorts.map((c) => c.retention.length)));
    // Amounts are null for members who may not see them (operations): no money column then.
    const money = cohorts.some((c) => c.amount_per_patient !== null);
    const head = CL.el("tr", {}, [CL.el("th", { text: L.cohort }), CL.el("th", { text: L.size })]
      .concat([...Array(width).keys()].map((i) => CL.el("th", { text: "+" + i })))
      .concat([CL.el("th", { text: L.visitsPer })])
      .concat(money ? [CL.el("th", { text: L.amountPer })] : []));
    const body = cohorts.map((c) => CL.el("tr", {}, [CL.el("th", { scope: "row", text: c.month }), CL.el("td", { text: c.patients })]
      .concat([...Array(width).keys()].map((i) => CL.el("td", { style: heat(c.retention[i]),
        text: i < c.retention.length ? Math.round(c.retention[i] * 100) + "%" : "" })))
      .concat([CL.el("td", { text: c.visits_per_patient })])
      .concat(money ? [CL.el("td", { text: c.amount_per_patient })] : [])));
    table.replaceChildren(CL.el("thead", {}, head), CL.el("tbody", {}, body));
    table.setAttribute("aria-label", L.monthsSince);
  }

  function renderLists(d) {
    document.getElementById("risk-list").replaceChildren(...d.at_risk.list.map((p) => CL.el("tr", {}, [
      CL.el("td", {}, CL.el("a", { href: "/patients/" + p.id + "/", text: p.name })),
      CL.el("td", { class: "font-monospace", text: p.phone_masked || "—" }),
      CL.el("td", { text: p.last_visit_date || L.never }),
      CL.el("td", { text: CL.when(p.last_touch_at) || L.never }),
    ])));
    document.getElementById("referrers").replaceChildren(...(d.referral.top_referrers.length
      ? d.referral.top_referrers.map((r) => CL.el("li", {}, [CL.el("a", { href: "/patients/" + r.id + "/", text: r.name }), " · " + r.referrals]))
      : [CL.el("li", { class: "text-secondary", style: "list-style: none", text: L.notEnough })]));
  }

  /* Filters change faster than answers come: only the latest request's answers are drawn,
     so a slow earlier answer cannot overwrite a newer one. */
  let latest = 0;
  async function load() {
    const ticket = ++latest;
    const query = params();
    history.replaceState(null, "", location.pathname + (query.toString() ? "?" + query : ""));
    const followups = loadFollowups(query, ticket);
    const noShows = loadNoShows(query, ticket);
    const channels = loadChannels(query, ticket);
    try {
      const d = await CL.api("/api/dashboard/?" + query.toString());
      if (ticket !== latest) return;
      document.getElementById("d-start").value = d.period.start;
      document.getElementById("d-end").value = d.period.end;
      // How fresh the figures are: the summaries are rebuilt by a beat job, not per request.
      document.getElementById("period-text").textContent =
        d.period.start + " — " + d.period.end + (d.freshness ? " · " + d.freshness.label : "");
      CL.status(statusLine, "");
      renderKpis(d);
      renderSources(d.sources);
      renderFunnel(d.funnel.stages);
      renderCohorts(d.cohorts);
      renderLists(d);
    } catch (error) {
      if (ticket === latest) CL.status(statusLine, CL.errorText(error), "danger");
    }
    await followups;
    await noShows;
    await channels;
  }

  function isoDate(date) {
    const shanghai = new Date(date.getTime() + 8 * 3600 * 1000);
    return shanghai.toISOString().slice(0, 10);
  }
  const presets = document.querySelectorAll("[data-days]");
  for (const button of presets) {
    button.addEventListener("click", () => {
      presets.forEach((b) => b.classList.toggle("active", b === button));
      const end = new Date();
      const start = new Date(end.getTime() - (Number(button.dataset.days) - 1) * 86400 * 1000);
      document.getElementById("d-start").value = isoDate(start);
      document.getElementById("d-end").value = isoDate(end);
      load();
    });
  }
  form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
  load();
})();
