// AG-UI's HttpAgent.runAgent against a live UAI server, as a front end calls it; its own event
// verifier and schema checks run on every stream. Prints one JSON line: what the runs showed.
//
//   node run_agent.mjs <scenario> <agent> [text]
//   scenario: turn (one message) | answers (then answer each interrupt: the next word of text)
//             | tool (offer a front-end tool, run it when called, send its result)
// Environment: AGUI_URL (the server's base URL), AGUI_TOKEN (a UAI token).
import { HttpAgent } from "@ag-ui/client";
import { randomUUID } from "node:crypto";

const [scenario, agentName, text = "Hello from node"] = process.argv.slice(2);
const agent = new HttpAgent({
  url: `${process.env.AGUI_URL}/ag-ui/${agentName}`,
  headers: { Authorization: `Bearer ${process.env.AGUI_TOKEN}` },
  threadId: randomUUID(),
});

const runs = [];
function subscriber(events) {
  return {
    onEvent: ({ event }) => {
      events.push(event.type);
    },
  };
}

async function once(parameters = {}) {
  const events = [];
  let error = null;
  let finished = null;
  try {
    const result = await agent.runAgent(parameters, {
      ...subscriber(events),
      onRunFinishedEvent: (params) => {
        finished = { outcome: params.outcome, interrupts: params.interrupts ?? null, pending: params.pendingToolCallIds ?? null };
      },
      onRunErrorEvent: ({ event }) => {
        error = { message: event.message, code: event.code ?? null };
      },
    });
    runs.push({ events, finished, error, result: result.result ?? null, newMessages: result.newMessages });
  } catch (thrown) {
    runs.push({ events, finished, error, thrown: String(thrown?.message ?? thrown) });
  }
  return runs[runs.length - 1];
}

agent.addMessage({ id: randomUUID(), role: "user", content: text.split("|")[0] });
const tools = [
  {
    name: "pick_colour",
    description: "Ask the user to pick a colour in the page.",
    parameters: { type: "object", properties: { options: { type: "array", items: { type: "string" } } } },
  },
];
let last = await once(scenario === "tool" ? { tools } : {});
const answers = text.split("|").slice(1);
while (scenario === "answers" && last.finished?.outcome === "interrupt" && answers.length) {
  const [interrupt] = last.finished.interrupts;
  last = await once({ resume: [{ interruptId: interrupt.id, status: "resolved", payload: answers.shift() }] });
}
if (scenario === "tool" && last.finished?.pending?.length) {
  // The front end runs its tool and sends the result in the next run's messages.
  const [callId] = last.finished.pending;
  agent.addMessage({ id: randomUUID(), role: "tool", toolCallId: callId, content: "teal" });
  last = await once({ tools });
}
console.log(
  JSON.stringify({
    runs: runs.map(({ newMessages, ...rest }) => rest),
    messages: agent.messages.map(({ id, ...rest }) => rest),
    pendingInterrupts: agent.pendingInterrupts,
  }),
);
