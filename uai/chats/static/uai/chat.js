// The chat page: seed 001 over the WebSocket (steps as they happen, message_end unlocks the input),
// REST for chats, history, file uploads and artifacts; reconnects and resumes after a drop.
// The socket is opened with ?live=1: besides seed 001's frames it carries uai_status, uai_progress,
// uai_log and uai_artifact frames, for the "working" bubble, Stop, and the files on their answer.
"use strict";

(() => {
  const { api, el, uuid, artifactItem } = uai;
  const $ = (id) => document.getElementById(id);
  const ICONS = { PlanningStep: "💡", ActionStep: "⚙️", FinalAnswerStep: "✅", InputRequestStep: "❓" };
  // Said next to each icon (an emoji without a font is an empty box; a screen reader gets words).
  const LABELS = { PlanningStep: "Plan", ActionStep: "Action", FinalAnswerStep: "Answer", InputRequestStep: "Question" };
  const TITLE_CHARS = 60; // a chat's title from its first message
  const LOG_LINES = 3; // the newest log lines the working bubble shows

  const state = {
    chat: null, // the open chat's data
    socket: null,
    lastSeq: 0, // the newest event number seen: a reconnect resumes after it
    seenAtLast: new Set(), // the kinds of frame already shown for that number
    busy: false,
    retry: 0,
    closing: false, // true while we close the socket ourselves (switching chats)
    opening: 0, // counts openChat calls: an older one that is still loading gives way
    openingId: null, // the chat the newest openChat call is for
    outbox: [], // client frames waiting for the socket to open
    runId: null, // the turn in flight (from uai_status frames): what Stop cancels
    files: [], // the files chosen for the next message (removable chips)
    lastUserText: null, // what Retry sends again
    question: null, // the agent's open question's bubble: the next message answers it
    chats: [], // the chat list, as loaded (search filters it)
  };

  // ---- rendering ------------------------------------------------------------------------------
  const messages = $("messages");

  function scrollDown() {
    messages.scrollTop = messages.scrollHeight;
  }

  function clearEmpty() {
    messages.querySelector(".empty")?.remove();
  }

  function append(node) {
    // The working bubble stays last while a turn runs.
    const working = messages.querySelector(".msg.working");
    if (working) messages.insertBefore(node, working);
    else messages.append(node);
    scrollDown();
  }

  function iconOf(stepType) {
    return el(
      "span",
      { class: "icon" },
      el("span", { "aria-hidden": "true" }, ICONS[stepType] || "•"),
      el("span", { class: "icon-label" }, ` ${LABELS[stepType] || "Step"}`),
    );
  }

  function userBubble(text, files = []) {
    clearEmpty();
    const bubble = el("div", { class: "msg user" }, el("div", { class: "body" }, text));
    if (files.length) bubble.append(el("div", { class: "hint", title: "Files" }, "📎 " + files.join(", ")));
    append(bubble);
  }

  function stepBlock(stepType, text, runId = state.runId) {
    clearEmpty();
    const icon = `${ICONS[stepType] || "•"} ${LABELS[stepType] || "Step"}:`;
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
      block = el("div", { class: "msg step final", "data-step": stepType }, iconOf(stepType));
      block.append(markdown.into(el("div", { class: "body markdown" }), text));
    } else if (stepType === "InputRequestStep") {
      block = el(
        "div",
        { class: "msg step question", "data-step": stepType, role: "note" },
        el("span", { class: "tag" }, `${ICONS[stepType]} Question from the agent`),
        el("div", { class: "body" }, text),
      );
    } else {
      block = el(
        "div",
        { class: `msg step ${stepType === "PlanningStep" ? "plan" : "other"}`, "data-step": stepType },
        iconOf(stepType),
        el("div", { class: "body" }, text),
      );
    }
    if (runId) block.dataset.run = runId;
    append(block);
    if (stepType === "InputRequestStep") askedBy(block);
    return block;
  }

  function errorBlock(text) {
    clearEmpty();
    append(el("div", { class: "msg error", role: "alert" }, "⚠️ Error: " + text));
  }

  // ---- the turn in flight: working bubble, Stop, Retry, the agent's question -----------------
  function working() {
    let bubble = messages.querySelector(".msg.working");
    if (!bubble) {
      clearEmpty();
      bubble = el(
        "div",
        { class: "msg working", role: "status", "aria-label": "The agent is working" },
        el("div", { class: "current" }, "Working…"),
        el("progress", { max: "100", "aria-label": "Progress" }),
        el("pre", { class: "logs" }),
      );
      messages.append(bubble);
      scrollDown();
    }
    return bubble;
  }

  function progress(frame) {
    const bubble = working();
    bubble.querySelector(".current").textContent = frame.current_step || "Working…";
    const bar = bubble.querySelector("progress");
    bar.value = Math.max(0, Math.min(100, Number(frame.progress) || 0));
    bar.textContent = `${Math.round(bar.value)} %`;
  }

  function logLine(frame) {
    const logs = working().querySelector(".logs");
    const lines = (logs.textContent ? logs.textContent.split("\n") : []).concat(frame.message);
    logs.textContent = lines.slice(-LOG_LINES).join("\n");
  }

  function askedBy(block) {
    // The agent waits for an answer: the next message is it (the turn's message_end unlocks the box).
    state.question = block;
    $("composer").classList.add("answering");
    $("text-label").textContent = "Your answer to the agent's question";
    $("text").placeholder = "Answer the agent's question…";
  }

  function answered() {
    state.question?.classList.add("answered");
    state.question = null;
    $("composer").classList.remove("answering");
    $("text-label").textContent = "Message";
    $("text").placeholder = "Message…";
  }

  function setBusy(busy) {
    state.busy = busy;
    if (busy) working();
    else messages.querySelector(".msg.working")?.remove();
    $("send").disabled = busy || !state.socket || state.socket.readyState !== WebSocket.OPEN;
    $("text").disabled = busy;
    $("files").disabled = busy;
    $("stop").hidden = !busy;
    $("stop").disabled = !state.runId;
    $("retry").hidden = busy || !state.lastUserText || Boolean(state.question);
    document.body.classList.toggle("busy", busy);
  }

  async function stop() {
    if (!state.runId) return;
    $("stop").disabled = true;
    try {
      await api("DELETE", `/run/${encodeURIComponent(state.runId)}`);
    } catch (error) {
      if (error.status !== 409) errorBlock(error.message); // 409: it had ended already
    }
  }

  function banner(text) {
    const box = $("connection");
    box.hidden = !text;
    box.textContent = text || "";
  }

  // ---- chats ----------------------------------------------------------------------------------
  function chatTitle(c) {
    // Its name; else its first message (a chat made through another API: /v1, A2A…); else when.
    return c.name || c.preview || `${c.agent} · ${new Date(c.created_at).toLocaleString([], { dateStyle: "short", timeStyle: "short" })}`;
  }

  async function loadChats() {
    state.chats = await api("GET", "/chat/");
    showChats();
  }

  function showChats() {
    const query = $("chat-search").value.trim().toLowerCase();
    const shown = state.chats.filter((c) => !query || chatTitle(c).toLowerCase().includes(query));
    $("chats").replaceChildren(
      ...shown.map((c) =>
        el(
          "li",
          { class: state.chat && state.chat.id === c.id ? "active" : "" },
          el("a", { href: `#chat=${encodeURIComponent(c.id)}`, "data-chat": c.id, title: chatTitle(c) }, chatTitle(c)),
          el("button", { type: "button", class: "rename", "aria-label": `Rename ${chatTitle(c)}`, title: "Rename", onclick: () => renameChat(c).catch((e) => errorBlock(e.message)) }, "Rename"),
          el("button", { type: "button", class: "delete", "aria-label": `Delete ${chatTitle(c)}`, title: "Delete", onclick: () => deleteChat(c).catch((e) => errorBlock(e.message)) }, "Delete"),
        ),
      ),
    );
    if (!shown.length && query) $("chats").append(el("li", { class: "hint" }, "No chat matches."));
  }

  async function nameChat(id, name) {
    // Seed 004's rename (PUT /chats/update/{id}): the native chat has the same name field.
    await api("PUT", `/chats/update/${encodeURIComponent(id)}`, { name });
  }

  async function renameChat(c) {
    const name = prompt("Rename the chat", c.name || "");
    if (name === null) return;
    await nameChat(c.id, name.trim().slice(0, 200));
    await loadChats();
  }

  async function deleteChat(c) {
    if (!confirm(`Delete "${chatTitle(c)}" and its messages and files?`)) return;
    const open = state.chat && state.chat.id === c.id;
    if (open) closeSocket(); // its "deleted" frames are no news here
    await api("DELETE", `/chat/${encodeURIComponent(c.id)}`);
    if (open) {
      state.chat = null;
      state.openingId = null;
      banner("");
      history.replaceState(null, "", location.pathname);
      messages.replaceChildren(el("p", { class: "empty" }, "Pick an agent and say something."));
      $("artifacts-box").hidden = true;
      state.lastUserText = null;
      answered();
      setBusy(false);
    }
    await loadChats();
  }

  async function newChat() {
    const chat = await api("POST", "/chat/", { agent: $("agent").value });
    location.hash = `chat=${encodeURIComponent(chat.session_id)}`;
  }

  async function openChat(id) {
    const opening = ++state.opening;
    state.openingId = id;
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
    state.runId = null;
    state.lastUserText = null;
    answered();
    messages.replaceChildren();
    if (!history.length) messages.append(el("p", { class: "empty" }, `New chat with ${chat.agent}.`));
    for (const m of history) {
      state.lastSeq = Math.max(state.lastSeq, m.seq || 0);
      if (m.role === "user") {
        answered(); // a question before it is answered
        userBubble(m.content, (m.files || []).map((f) => f.name));
        state.lastUserText = m.content;
      } else if (m.step_type) stepBlock(m.step_type, m.content, m.run_id);
      else stepBlock("FinalAnswerStep", m.content, m.run_id);
    }
    if (chat.status === "running") {
      // A turn in flight (a reload mid-turn): Stop cancels the newest turn, as after a uai_status
      // frame, without waiting for one.
      for (let i = history.length - 1; i >= 0 && !state.runId; i--) state.runId = history[i].run_id || null;
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
    const artifacts = distinctNames(await api("GET", `/chat/${encodeURIComponent(state.chat.id)}/artifacts`));
    $("artifacts-box").hidden = !artifacts.length;
    $("artifact-count").textContent = `(${artifacts.length})`;
    $("artifacts").replaceChildren(...artifacts.map(artifactItem));
    // Each agent file also on the answer of the turn that made it (its last step of that run).
    messages.querySelectorAll(".msg .files").forEach((list) => list.remove());
    for (const a of artifacts) {
      if (!a.run_id || a.origin === "user") continue;
      const steps = messages.querySelectorAll(`.msg.step[data-run="${CSS.escape(a.run_id)}"]`);
      const answer = steps[steps.length - 1];
      if (!answer) continue;
      let list = answer.querySelector(".files");
      if (!list) answer.append((list = el("ul", { class: "files", "aria-label": "Files from this answer" })));
      list.append(artifactItem(a));
    }
  }

  function distinctNames(artifacts) {
    // Two files of one name (notes.txt twice) are told apart: "notes (2).txt", and so on.
    const seen = new Map();
    return artifacts.map((a) => {
      const count = (seen.get(a.name) || 0) + 1;
      seen.set(a.name, count);
      if (count === 1) return a;
      const dot = a.name.lastIndexOf(".");
      const name = dot > 0 ? `${a.name.slice(0, dot)} (${count})${a.name.slice(dot)}` : `${a.name} (${count})`;
      return { ...a, name };
    });
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
    const socket = new WebSocket(`${scheme}://${location.host}/chat/${encodeURIComponent(chat.id)}?live=1`);
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
        state.openingId = null;
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
      case "uai_status":
        if (frame.status === "queued" || frame.status === "running") {
          state.runId = frame.run_id;
          setBusy(true);
        }
        break;
      case "uai_progress":
        if (state.busy) progress(frame);
        break;
      case "uai_log":
        if (state.busy) logLine(frame);
        break;
      case "agent_step":
        stepBlock(frame.step_type, frame.message);
        break;
      case "agent_error":
        errorBlock(frame.error);
        break;
      case "message_end":
        state.runId = null;
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
    const files = state.files.slice();
    if ((!text && !files.length) || state.busy) return;
    await sendTurn(text, files);
  }

  async function sendTurn(text, files) {
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
    const first = !messages.querySelector(".msg.user");
    const answering = Boolean(state.question);
    userBubble(text, files.map((f) => f.name));
    answered();
    state.lastUserText = text;
    $("text").value = "";
    state.files = [];
    showFiles();
    setBusy(true);
    if (first && !answering && text && !state.chat.name) {
      // The chat's title: its first message (the list shows it once the turn ends).
      state.chat.name = text.replace(/\s+/g, " ").slice(0, TITLE_CHARS) + (text.length > TITLE_CHARS ? "…" : "");
      nameChat(state.chat.id, state.chat.name).catch(() => {});
    }
    try {
      if (files.length) {
        // Files go over REST; the turn's steps still arrive on the WebSocket.
        const form = new FormData();
        form.append("text", text);
        for (const f of files) form.append("files", f);
        form.append("message_id", uuid());
        form.append("wait", "false");
        const turn = await api("POST", `/chat/${encodeURIComponent(state.chat.id)}`, form);
        state.runId = state.runId || turn?.run_id || turn?.task_id || null;
        setBusy(state.busy);
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
    if (!match) return;
    const id = decodeURIComponent(match[1]);
    // The first load's route can come after a click has opened a chat already (its list was
    // slow): opening it again would drop the live socket and reload the page under a turn.
    if (state.openingId === id) return;
    openChat(id).catch((e) => errorBlock(e.message));
  }

  $("composer").addEventListener("submit", send);
  $("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) send(e);
  });
  function showFiles() {
    $("file-chips").replaceChildren(
      ...state.files.map((f, i) =>
        el(
          "li",
          { class: "chip" },
          el("span", {}, f.name),
          el("button", { type: "button", "aria-label": `Remove ${f.name}`, title: `Remove ${f.name}`, onclick: () => {
            state.files.splice(i, 1);
            showFiles();
            $("text").focus();
          } }, "×"),
        ),
      ),
    );
  }

  $("files").addEventListener("change", () => {
    state.files.push(...$("files").files);
    $("files").value = ""; // the same file can be chosen again after its removal
    showFiles();
  });
  $("stop").addEventListener("click", () => stop());
  $("retry").addEventListener("click", () => {
    if (state.lastUserText !== null && !state.busy) sendTurn(state.lastUserText, []).catch((e) => errorBlock(e.message));
  });
  $("chat-search").addEventListener("input", showChats);
  $("sidebar-toggle").addEventListener("click", () => {
    const open = document.querySelector(".chat-layout").classList.toggle("sidebar-open");
    $("sidebar-toggle").setAttribute("aria-expanded", String(open));
  });
  $("chats").addEventListener("click", (e) => {
    if (e.target.closest("a")) {
      document.querySelector(".chat-layout").classList.remove("sidebar-open");
      $("sidebar-toggle").setAttribute("aria-expanded", "false");
    }
  });
  $("new-chat").addEventListener("click", () => newChat().catch((e) => errorBlock(e.message)));
  window.addEventListener("hashchange", route);

  uai
    .loadAgents($("agent"), $("agent-description"))
    .then(loadChats)
    .then(route)
    .catch((e) => errorBlock(e.message));
  setBusy(false);
  $("text").focus();
})();
