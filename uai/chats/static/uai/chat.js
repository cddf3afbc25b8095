// The chat page: seed 001 over the WebSocket (steps as they happen, message_end unlocks the input),
// REST for chats, history, file uploads and artifacts; reconnects and resumes after a drop.
"use strict";

(() => {
  const { api, el, uuid, artifactItem } = uai;
  const $ = (id) => document.getElementById(id);
  const ICONS = { PlanningStep: "💡", ActionStep: "⚙️", FinalAnswerStep: "✅", InputRequestStep: "❓" };

  const state = {
    chat: null, // the open chat's data
    socket: null,
    lastSeq: 0, // the newest event number seen: a reconnect resumes after it
    seenAtLast: new Set(), // the kinds of frame already shown for that number
    busy: false,
    retry: 0,
    closing: false, // true while we close the socket ourselves (switching chats)
    opening: 0, // counts openChat calls: an older one that is still loading gives way
    outbox: [], // client frames waiting for the socket to open
  };

  // ---- rendering ------------------------------------------------------------------------------
  const messages = $("messages");

  function scrollDown() {
    messages.scrollTop = messages.scrollHeight;
  }

  function clearEmpty() {
    messages.querySelector(".empty")?.remove();
  }

  function userBubble(text, files = []) {
    clearEmpty();
    const bubble = el("div", { class: "msg user" }, el("div", { class: "body" }, text));
    if (files.length) bubble.append(el("div", { class: "hint" }, "📎 " + files.join(", ")));
    messages.append(bubble);
    scrollDown();
  }

  function stepBlock(stepType, text) {
    clearEmpty();
    const icon = ICONS[stepType] || "•";
    let block;
    if (stepType === "ActionStep") {
      const first = (text.split("\n")[0] || "Action").slice(0, 140);
      block = el(
        "details",
        { class: "msg step action", "data-step": stepType },
        el("summary", {}, `${icon} ${first}`),
        el("pre", { class: "logs" }, text),
      );
    } else if (stepType === "FinalAnswerStep") {
      block = el("div", { class: "msg step final", "data-step": stepType }, el("span", { class: "icon" }, icon));
      block.append(markdown.into(el("div", { class: "body markdown" }), text));
    } else {
      block = el(
        "div",
        { class: `msg step ${stepType === "PlanningStep" ? "plan" : "other"}`, "data-step": stepType },
        el("span", { class: "icon" }, icon),
        el("div", { class: "body" }, text),
      );
    }
    messages.append(block);
    scrollDown();
  }

  function errorBlock(text) {
    clearEmpty();
    messages.append(el("div", { class: "msg error", role: "alert" }, "⚠️ " + text));
    scrollDown();
  }

  function setBusy(busy) {
    state.busy = busy;
    $("spinner").hidden = !busy;
    $("send").disabled = busy || !state.socket || state.socket.readyState !== WebSocket.OPEN;
    $("text").disabled = busy;
    $("files").disabled = busy;
    document.body.classList.toggle("busy", busy);
  }

  function banner(text) {
    const box = $("connection");
    box.hidden = !text;
    box.textContent = text || "";
  }

  // ---- chats ----------------------------------------------------------------------------------
  async function loadChats() {
    const chats = await api("GET", "/chat/");
    const list = $("chats");
    list.replaceChildren(
      ...chats.map((c) =>
        el(
          "li",
          { class: state.chat && state.chat.id === c.id ? "active" : "" },
          el(
            "a",
            { href: `#chat=${encodeURIComponent(c.id)}`, "data-chat": c.id, title: c.id },
            c.name || `${c.agent} · ${new Date(c.created_at).toLocaleString([], { dateStyle: "short", timeStyle: "short" })}`,
          ),
        ),
      ),
    );
  }

  async function newChat() {
    const chat = await api("POST", "/chat/", { agent: $("agent").value });
    location.hash = `chat=${encodeURIComponent(chat.session_id)}`;
  }

  async function openChat(id) {
    const opening = ++state.opening;
    closeSocket();
    state.outbox = [];
    const [chat, history] = await Promise.all([
      api("GET", `/chat/${encodeURIComponent(id)}`),
      api("GET", `/chat/${encodeURIComponent(id)}/messages`),
    ]);
    if (opening !== state.opening) return; // another chat was opened meanwhile
    state.chat = chat;
    state.lastSeq = 0;
    state.seenAtLast = new Set();
    messages.replaceChildren();
    if (!history.length) messages.append(el("p", { class: "empty" }, `New chat with ${chat.agent}.`));
    for (const m of history) {
      state.lastSeq = Math.max(state.lastSeq, m.seq || 0);
      if (m.role === "user") userBubble(m.content, (m.files || []).map((f) => f.name));
      else if (m.step_type) stepBlock(m.step_type, m.content);
      else stepBlock("FinalAnswerStep", m.content);
    }
    $("agent").value = chat.agent;
    $("agent").dispatchEvent(new Event("change"));
    setBusy(chat.status === "running");
    await Promise.all([loadChats(), loadArtifacts()]);
    if (opening !== state.opening) return;
    connect();
  }

  async function loadArtifacts() {
    if (!state.chat) return;
    const artifacts = await api("GET", `/chat/${encodeURIComponent(state.chat.id)}/artifacts`);
    $("artifacts-box").hidden = !artifacts.length;
    $("artifact-count").textContent = `(${artifacts.length})`;
    $("artifacts").replaceChildren(...artifacts.map(artifactItem));
  }

  // ---- the WebSocket --------------------------------------------------------------------------
  function closeSocket() {
    if (state.socket) {
      state.closing = true;
      state.socket.close();
      state.socket = null;
    }
  }

  function connect() {
    closeSocket(); // one socket at a time: an older one's frames are another chat's
    const chat = state.chat;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/chat/${encodeURIComponent(chat.id)}`);
    state.socket = socket;
    state.closing = false;
    window.uaiChat = { socket, state }; // for debugging (and the browser tests' dropped connection)
    socket.onopen = () => {
      state.retry = 0;
      banner("");
      // Replay whatever happened after the last event we saw (nothing, most of the time).
      socket.send(JSON.stringify({ type: "resume", after_seq: state.lastSeq }));
      // Then what was sent while the socket was connecting or reconnecting.
      for (const frame of state.outbox.splice(0)) socket.send(JSON.stringify(frame));
      setBusy(state.busy);
    };
    socket.onmessage = (event) => onFrame(JSON.parse(event.data));
    socket.onclose = (event) => {
      if (state.socket !== socket) return; // replaced by another chat's socket
      state.socket = null;
      setBusy(state.busy);
      if (event.code === 4401 || event.code === 4403) {
        banner("Not allowed to open this chat. Sign in again?");
        return;
      }
      if (event.code === 4404) {
        // Deleted (in another tab, by an operator): nothing to reconnect to. Its id is free for
        // anyone's next chat, so the next message starts a new chat of this user's instead.
        state.chat = null;
        state.outbox = [];
        history.replaceState(null, "", location.pathname);
        setBusy(false);
        banner("This chat was deleted. Your next message starts a new one.");
        loadChats().catch((e) => errorBlock(e.message));
        return;
      }
      // Dropped: try again with backoff; the resume above replays what we missed.
      const delay = Math.min(5000, 300 * 2 ** state.retry++);
      banner(`Connection lost — reconnecting in ${(delay / 1000).toFixed(1)} s…`);
      setTimeout(() => {
        if (state.chat === chat && !state.socket) connect();
      }, delay);
    };
  }

  function onFrame(frame) {
    if (!state.chat || (frame.chat_id && frame.chat_id !== state.chat.id)) return;
    // One event can give several frames (agent_error then message_end share a number): a frame
    // is new if its number is newer, or if it is another kind of frame for the newest number.
    if (frame.seq && frame.type !== "stream_gap") {
      const kind = `${frame.type}:${frame.step_type || ""}`;
      if (frame.seq < state.lastSeq || (frame.seq === state.lastSeq && state.seenAtLast.has(kind))) return;
      if (frame.seq > state.lastSeq) state.seenAtLast = new Set();
      state.lastSeq = frame.seq;
      state.seenAtLast.add(kind);
    }
    switch (frame.type) {
      case "agent_step":
        stepBlock(frame.step_type, frame.message);
        break;
      case "agent_error":
        errorBlock(frame.error);
        break;
      case "message_end":
        setBusy(false);
        loadArtifacts();
        loadChats();
        $("text").focus();
        break;
      case "stream_gap":
        openChat(state.chat.id); // events were pruned: reload the chat from its messages
        break;
    }
  }

  // ---- sending --------------------------------------------------------------------------------
  async function send(event) {
    event.preventDefault();
    const text = $("text").value.trim();
    const files = [...$("files").files];
    if ((!text && !files.length) || state.busy) return;
    if (!state.chat) {
      const chat = await api("POST", "/chat/", { agent: $("agent").value });
      history.replaceState(null, "", `#chat=${encodeURIComponent(chat.session_id)}`);
      await openChat(chat.session_id);
    }
    const limit = uai.limits().max_upload_bytes;
    const tooBig = files.find((f) => limit && f.size > limit);
    if (tooBig) {
      errorBlock(`${tooBig.name} is larger than the ${uai.bytes(limit)} upload limit.`);
      return;
    }
    userBubble(text, files.map((f) => f.name));
    $("text").value = "";
    $("files").value = "";
    $("file-names").textContent = "";
    setBusy(true);
    try {
      if (files.length) {
        // Files go over REST; the turn's steps still arrive on the WebSocket.
        const form = new FormData();
        form.append("text", text);
        for (const f of files) form.append("files", f);
        form.append("message_id", uuid());
        form.append("wait", "false");
        await api("POST", `/chat/${encodeURIComponent(state.chat.id)}`, form);
      } else {
        sendFrame({ type: "client", message: text, message_id: uuid() });
      }
    } catch (error) {
      errorBlock(error.message);
      setBusy(false);
    }
  }

  function sendFrame(frame) {
    // A new chat's socket is still connecting when its first message is sent (and a dropped
    // one is reconnecting): the frame waits for it to open instead of being lost.
    if (state.socket && state.socket.readyState === WebSocket.OPEN) state.socket.send(JSON.stringify(frame));
    else state.outbox.push(frame);
  }

  // ---- wiring ---------------------------------------------------------------------------------
  function route() {
    const match = location.hash.match(/^#chat=(.+)$/);
    if (match) openChat(decodeURIComponent(match[1])).catch((e) => errorBlock(e.message));
  }

  $("composer").addEventListener("submit", send);
  $("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) send(e);
  });
  $("files").addEventListener("change", () => {
    $("file-names").textContent = [...$("files").files].map((f) => `📎 ${f.name}`).join("  ");
  });
  $("new-chat").addEventListener("click", () => newChat().catch((e) => errorBlock(e.message)));
  window.addEventListener("hashchange", route);

  uai
    .loadAgents($("agent"), $("agent-description"))
    .then(loadChats)
    .then(route)
    .catch((e) => errorBlock(e.message));
  setBusy(false);
})();
