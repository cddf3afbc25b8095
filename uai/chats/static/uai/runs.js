// The runs page: start a run, follow it live over SSE (/run/{id}/stream: status with progress
// and current step, logs, artifacts), answer it when it asks, cancel it; schedule an agent
// (/schedules/) and see which runs a schedule made.
"use strict";

(() => {
  const { api, el, artifactItem } = uai;
  const $ = (id) => document.getElementById(id);
  const ACTIVE = new Set(["queued", "running", "input_required"]);
  let current = null; // {id, source, view}
  let schedules = new Map(); // id -> schedule

  function parseInput(text) {
    const trimmed = text.trim();
    if (!trimmed) return {};
    if (/^[[{"]/.test(trimmed) || /^-?\d/.test(trimmed) || ["true", "false", "null"].includes(trimmed)) {
      try {
        return JSON.parse(trimmed);
      } catch {
        /* not JSON: send it as text */
      }
    }
    return trimmed;
  }

  async function loadRuns() {
    const runs = await api("GET", "/run/");
    $("runs").replaceChildren(
      ...runs.slice(0, 100).map((r) =>
        el(
          "li",
          { class: current && current.id === r.id ? "active" : "" },
          el("a", { href: `#run=${r.id}` }, r.agent),
          " ",
          el("span", { class: `status-badge ${r.status}` }, r.status),
          r.schedule_id
            ? el("span", { class: "scheduled", role: "img", title: scheduleLabel(r.schedule_id), "aria-label": scheduleLabel(r.schedule_id) }, "⏰")
            : null,
          el("span", { class: "hint" }, " " + new Date(r.created_at).toLocaleTimeString()),
        ),
      ),
    );
  }

  function scheduleLabel(id) {
    const s = schedules.get(id);
    return s ? `From schedule ${s.name || s.agent} (${s.cron}, ${s.timezone})` : "From a schedule";
  }

  async function loadSchedules() {
    schedules = new Map((await api("GET", "/schedules/")).map((s) => [s.id, s]));
    const items = [...schedules.values()].map((s) =>
      el(
        "li",
        {},
        el("span", { class: "schedule-what" }, el("strong", {}, s.name || s.agent), ` ${s.cron} (${s.timezone})`),
        el(
          "span",
          { class: "hint" },
          s.enabled && s.next_fire_at ? `next ${new Date(s.next_fire_at).toLocaleString()}` : "off",
          s.last_error ? ` · ${s.last_error}` : "",
        ),
        el(
          "span",
          { class: "schedule-actions" },
          el("a", { href: `#schedule=${s.id}` }, "runs"),
          el(
            "button",
            {
              type: "button",
              "aria-label": `${s.enabled ? "Pause" : "Resume"} ${s.name || s.agent}`,
              onclick: () => api("PATCH", `/schedules/${s.id}`, { enabled: !s.enabled }).then(loadSchedules, showScheduleError),
            },
            s.enabled ? "Pause" : "Resume",
          ),
          el(
            "button",
            {
              type: "button",
              class: "danger",
              "aria-label": `Delete ${s.name || s.agent}`,
              onclick: () => api("DELETE", `/schedules/${s.id}`).then(loadSchedules, showScheduleError),
            },
            "Delete",
          ),
        ),
      ),
    );
    $("schedules").replaceChildren(...(items.length ? items : [el("li", { class: "hint" }, "none yet")]));
  }

  function showScheduleError(error) {
    $("schedule-error").textContent = error.message;
    $("schedule-error").hidden = false;
  }

  async function createSchedule(event) {
    event.preventDefault();
    $("schedule-error").hidden = true;
    try {
      await api("POST", "/schedules/", {
        agent: $("run-agent").value,
        input: parseInput($("schedule-input").value),
        cron: $("schedule-cron").value,
        timezone: $("schedule-timezone").value,
        name: $("schedule-name").value,
      });
      $("new-schedule").reset();
      $("schedule-timezone").value = browserZone();
      await loadSchedules();
    } catch (error) {
      showScheduleError(error);
    }
  }

  function browserZone() {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  }

  async function start(event) {
    event.preventDefault();
    $("start-error").hidden = true;
    const files = [...$("run-files").files];
    const input = parseInput($("run-input").value);
    try {
      let run;
      if (files.length) {
        const form = new FormData();
        form.append("agent", $("run-agent").value);
        form.append("input", typeof input === "string" ? input : JSON.stringify(input));
        for (const f of files) form.append("files", f);
        run = await api("POST", "/run/", form);
      } else {
        run = await api("POST", "/run/", { agent: $("run-agent").value, input });
      }
      $("run-files").value = "";
      location.hash = `run=${run.task_id}`;
    } catch (error) {
      $("start-error").textContent = error.message;
      $("start-error").hidden = false;
    }
  }

  // A run's progress bar, current step and expected end: from its status, or a `progress` event.
  function showProgress(view, data) {
    view.querySelector(".run-progress").value = data.progress || 0;
    view.querySelector(".current-step").textContent = data.current_step || "";
    view.querySelector(".eta").textContent = data.estimated_completion_time
      ? `expected by ${new Date(data.estimated_completion_time).toLocaleTimeString()}`
      : "";
  }

  function showStatus(view, data) {
    const q = (sel) => view.querySelector(sel);
    const badge = q(".status-badge");
    badge.textContent = data.status;
    badge.className = `status-badge ${data.status}`;
    showProgress(view, ACTIVE.has(data.status) ? data : { ...data, estimated_completion_time: null });
    q(".cancel").hidden = !ACTIVE.has(data.status);
    const asking = data.status === "input_required";
    q(".input-form").hidden = !asking;
    if (asking) {
      q(".input-prompt").textContent = data.input_prompt || "The agent asks:";
      q(".input-text").focus();
    }
    q(".run-error").hidden = !data.error;
    q(".run-error").textContent = data.error || "";
    if (data.status === "succeeded") {
      q(".run-output").hidden = false;
      const output = data.output;
      const body = q(".output-body");
      if (typeof output === "string") markdown.into(body, output);
      else if (output && typeof output.text === "string") markdown.into(body, output.text);
      else body.replaceChildren(el("pre", {}, JSON.stringify(output, null, 2)));
    }
  }

  function appendLog(view, log) {
    const pre = view.querySelector(".logs");
    const time = new Date(log.created_at || Date.now()).toLocaleTimeString();
    pre.append(`${time} [${log.level}] ${log.message}\n`);
    pre.scrollTop = pre.scrollHeight;
  }

  async function loadArtifacts(view, id) {
    const artifacts = await api("GET", `/run/${id}/artifacts`);
    view.querySelector(".run-artifacts").replaceChildren(
      ...(artifacts.length ? artifacts.map(artifactItem) : [el("li", { class: "hint" }, "none yet")]),
    );
  }

  let openings = 0; // counts open() calls: an older one that is still loading gives way

  function close() {
    if (current && current.source) current.source.close();
    current = null;
  }

  async function open(id) {
    close();
    const opening = ++openings;
    const run = await api("GET", `/run/${id}`);
    if (opening !== openings) return; // another run was opened meanwhile
    const root = $("run-detail");
    root.replaceChildren($("run-template").content.cloneNode(true));
    root.querySelector(".run-agent").textContent = run.agent;
    root.querySelector(".run-id").textContent = run.id;
    if (run.schedule_id) {
      const line = root.querySelector(".run-schedule");
      line.textContent = scheduleLabel(run.schedule_id);
      line.hidden = false;
    }
    showStatus(root, run);
    current = { id, source: null };
    loadArtifacts(root, id);
    loadRuns();

    root.querySelector(".cancel").addEventListener("click", async () => {
      try {
        showStatus(root, await api("DELETE", `/run/${id}`));
      } catch (error) {
        root.querySelector(".run-error").hidden = false;
        root.querySelector(".run-error").textContent = error.message;
      }
    });
    root.querySelector(".input-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const input = root.querySelector(".input-text");
      try {
        await api("POST", `/run/${id}/input`, { text: input.value });
        input.value = "";
        root.querySelector(".input-form").hidden = true;
      } catch (error) {
        root.querySelector(".run-error").hidden = false;
        root.querySelector(".run-error").textContent = error.message;
      }
    });

    // Every event of the run from its start; EventSource reconnects by itself after a drop,
    // resuming after the last event it got (Last-Event-ID).
    const source = new EventSource(`/run/${id}/stream`);
    current.source = source;
    source.addEventListener("status", (e) => {
      const data = JSON.parse(e.data).data;
      showStatus(root, data);
      if (!ACTIVE.has(data.status)) {
        source.close();
        loadArtifacts(root, id);
        loadRuns();
      }
    });
    source.addEventListener("progress", (e) => showProgress(root, JSON.parse(e.data).data));
    source.addEventListener("log", (e) => appendLog(root, JSON.parse(e.data).data));
    source.addEventListener("artifact", () => loadArtifacts(root, id));
    if (!ACTIVE.has(run.status)) {
      // Ended already: its logs come from the REST API, no need to follow it.
      source.close();
      for (const log of await api("GET", `/run/${id}/logs`)) appendLog(root, log);
    }
  }

  // One schedule's runs, in the detail pane.
  async function openSchedule(id) {
    close();
    const runs = await api("GET", `/schedules/${id}/runs`);
    $("run-detail").replaceChildren(
      el("h2", {}, scheduleLabel(id)),
      el(
        "ul",
        { class: "run-list" },
        ...(runs.length
          ? runs.map((r) =>
              el(
                "li",
                {},
                el("a", { href: `#run=${r.id}` }, new Date(r.created_at).toLocaleString()),
                " ",
                el("span", { class: `status-badge ${r.status}` }, r.status),
              ),
            )
          : [el("li", { class: "hint" }, "no runs yet")]),
      ),
    );
  }

  function route() {
    const match = location.hash.match(/^#run=([\w-]+)$/);
    if (match) open(match[1]).catch((e) => ($("run-detail").textContent = e.message));
    const scheduled = location.hash.match(/^#schedule=([\w-]+)$/);
    if (scheduled) openSchedule(scheduled[1]).catch((e) => ($("run-detail").textContent = e.message));
  }

  $("schedule-timezone").value = browserZone();
  $("new-schedule").addEventListener("submit", createSchedule);
  $("start-run").addEventListener("submit", start);
  window.addEventListener("hashchange", route);
  uai.loadAgents($("run-agent"))
    .then(() => loadSchedules().catch(() => {}))
    .then(loadRuns)
    .then(route);
  setInterval(() => document.visibilityState === "visible" && loadRuns().catch(() => {}), 5000);
})();
