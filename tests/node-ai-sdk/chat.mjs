// Drives a UAI agent through the AI SDK's own client code — `DefaultChatTransport`,
// `readUIMessageStream` and the `AbstractChat` that `useChat` is built on — as a front end does,
// and prints what it saw as one line of JSON.
//
// Env: UAI_URL (the server), UAI_TOKEN (a UAI token, sent as a Bearer header).
// Args: mode (turn | resume | reload | stop | answer), agent, chat id, text, then for `answer`
// what the front end answers the agent's question (or its tool call) with.
import {
  AbstractChat,
  DefaultChatTransport,
  lastAssistantMessageIsCompleteWithToolCalls,
  readUIMessageStream,
} from "ai";

const [mode, agent, chatId, text = "hello", answer = ""] = process.argv.slice(2);
const api = `${process.env.UAI_URL}/ai-sdk/${agent}`;
const headers = { Authorization: `Bearer ${process.env.UAI_TOKEN}` };
// The front end's tools go with each request in the body (UAI_TOOLS: their JSON list).
const body = process.env.UAI_TOOLS ? { tools: JSON.parse(process.env.UAI_TOOLS) } : undefined;
const transport = new DefaultChatTransport({ api, headers, body });
const ANSWER_SECONDS = 30;
const user = { id: "user-1", role: "user", parts: [{ type: "text", text }] };
const DROP_AFTER_DELTAS = 5;

function send(abortSignal) {
  return transport.sendMessages({
    trigger: "submit-message",
    chatId,
    messageId: undefined,
    messages: [user],
    abortSignal,
  });
}

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

// The message `readUIMessageStream` assembles from a stream, and every chunk of it.
async function read(stream) {
  const [forMessage, forChunks] = stream.tee();
  const errors = [];
  const chunks = collect(forChunks);
  let message = null;
  for await (const state of readUIMessageStream({ stream: forMessage, onError: (e) => errors.push(e.message) })) {
    message = state;
  }
  return { message, chunks: await chunks, errors };
}

// Reads chunks until DROP_AFTER_DELTAS text deltas came, then drops the connection.
async function readThenDrop() {
  const controller = new AbortController();
  const reader = (await send(controller.signal)).getReader();
  const before = [];
  while (before.filter((c) => c.type === "text-delta").length < DROP_AFTER_DELTAS) {
    const { value, done } = await reader.read();
    if (done) break;
    before.push(value);
  }
  controller.abort();
  await reader.cancel().catch(() => {});
  return before;
}

// The smallest `ChatState`: what `useChat` keeps in React state, in plain fields.
class State {
  status = "ready";
  error = undefined;
  constructor(messages) {
    this.messages = messages;
  }
  pushMessage = (message) => {
    this.messages = [...this.messages, message];
  };
  popMessage = () => {
    this.messages = this.messages.slice(0, -1);
  };
  replaceMessage = (index, message) => {
    this.messages = this.messages.map((m, i) => (i === index ? message : m));
  };
  snapshot = (thing) => structuredClone(thing);
}

class Chat extends AbstractChat {
  constructor(messages, options = {}) {
    super({ id: chatId, transport, state: new State(messages), ...options });
  }
}

let result;
if (mode === "turn") {
  result = await read(await send(undefined));
} else if (mode === "resume") {
  // The connection drops mid-turn; the transport reconnects (GET …/{chatId}/stream).
  const before = await readThenDrop();
  const resumed = await transport.reconnectToStream({ chatId });
  const after = resumed === null ? null : await read(resumed);
  const afterEnd = await transport.reconnectToStream({ chatId }); // the turn is over: null (204)
  result = { before, after, afterEnd: afterEnd === null };
} else if (mode === "reload") {
  // The page reloads mid-turn: a new chat with the messages it had resumes (useChat's resume).
  const before = await readThenDrop();
  const chat = new Chat([user]);
  await chat.resumeStream();
  result = { before, messages: chat.messages, status: chat.status, error: chat.error?.message ?? null };
} else if (mode === "stop") {
  // The user stops the turn: POST …/{chatId}/stop while the stream is read.
  const reader = (await send(undefined)).getReader();
  const chunks = [];
  let stopped = null;
  let stoppedAt = 0;
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    chunks.push(value);
    if (value.type === "text-delta" && stopped === null) {
      stoppedAt = Date.now();
      const response = await fetch(`${api}/${chatId}/stop`, { method: "POST", headers });
      stopped = { status: response.status, body: await response.json() };
    }
  }
  result = { chunks, stopped, endedAfterMs: Date.now() - stoppedAt };
} else if (mode === "answer") {
  // The agent asks (a uai_input tool call) or calls a front-end tool: the front end answers in
  // onToolCall with addToolOutput, and useChat's sendAutomaticallyWhen sends the answer back.
  const calls = [];
  const chat = new Chat([], {
    sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithToolCalls,
    onToolCall: ({ toolCall }) => {
      calls.push(toolCall);
      const output = toolCall.toolName === "uai_input" ? answer : JSON.parse(answer);
      chat.addToolOutput({ tool: toolCall.toolName, toolCallId: toolCall.toolCallId, output }); // not awaited (as documented)
    },
  });
  await chat.sendMessage({ text });
  const deadline = Date.now() + ANSWER_SECONDS * 1000;
  const answered = () => chat.status === "ready" && chat.lastMessage?.parts.some((p) => p.type === "text");
  while (!answered() && chat.status !== "error" && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  result = { calls, messages: chat.messages, status: chat.status, error: chat.error?.message ?? null };
} else {
  throw new Error(`unknown mode ${mode}`);
}
console.log(JSON.stringify(result));
