// Shared by the chat and runs pages: API calls with the session's CSRF token, small DOM helpers.
"use strict";

const uai = (() => {
  function cookie(name) {
    const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
    return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
  }

  class ApiError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }

  // fetch() on the same origin: the session cookie signs us in, the CSRF header guards writes.
  async function api(method, path, body) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET") init.headers["X-CSRFToken"] = cookie("csrftoken");
    if (body instanceof FormData) init.body = body;
    else if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    if (response.status === 401 || response.status === 403) {
      if (response.status === 401) location.href = "/login/?next=" + encodeURIComponent(location.pathname);
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { detail: text };
    }
    if (!response.ok) throw new ApiError(response.status, (data && data.detail) || response.statusText);
    return data;
  }

  // el("li", {class: "x", onclick: f}, "text", child…): children are text or nodes, never HTML.
  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function bytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  function uuid() {
    return crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2);
  }

  function artifactItem(a) {
    return el(
      "li",
      { class: "artifact" },
      el("a", { href: a.download_url, download: a.name }, a.name),
      el("span", { class: "hint" }, ` ${a.media_type} · ${bytes(a.size || 0)} · ${a.origin}`),
    );
  }

  async function loadAgents(select, describe) {
    const agents = await api("GET", "/agents");
    select.replaceChildren(...agents.map((a) => el("option", { value: a.name }, a.name)));
    const remembered = localStorage.getItem("uai.agent");
    if (remembered && agents.some((a) => a.name === remembered)) select.value = remembered;
    const show = () => {
      localStorage.setItem("uai.agent", select.value);
      const agent = agents.find((a) => a.name === select.value);
      if (describe) describe.textContent = agent ? agent.description : "";
    };
    select.addEventListener("change", show);
    show();
    return agents;
  }

  return { api, ApiError, el, bytes, uuid, artifactItem, loadAgents, limits: () => JSON.parse(document.getElementById("uai-limits")?.textContent || "{}") };
})();
