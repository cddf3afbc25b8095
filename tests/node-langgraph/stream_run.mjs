// LangGraph's own JavaScript client (@langchain/langgraph-sdk) against a live UAI server, as a
// front end calls it: a thread, one run streamed in `values` and `messages-tuple`, the thread's
// state and runs, then the same run joined again from its start. Prints one JSON line: what it saw.
//
//   node stream_run.mjs <assistant> [text]
// Environment: LANGGRAPH_URL (the server's base URL), LANGGRAPH_TOKEN (a UAI token).
import { Client } from "@langchain/langgraph-sdk";

const [assistantId, text = "Hello from node"] = process.argv.slice(2);
const client = new Client({
  apiUrl: `${process.env.LANGGRAPH_URL}/langgraph`,
  apiKey: process.env.LANGGRAPH_TOKEN,
});
const streamMode = ["values", "messages-tuple"];

async function collect(stream) {
  const chunks = [];
  try {
    for await (const chunk of stream) {
      chunks.push({ event: chunk.event, data: chunk.data, id: chunk.id ?? null });
    }
    return { chunks };
  } catch (thrown) {
    return { chunks, thrown: String(thrown?.message ?? thrown) };
  }
}

const thread = await client.threads.create();
const created = [];
const streamed = await collect(
  client.runs.stream(thread.thread_id, assistantId, {
    input: { messages: [{ role: "user", content: text }] },
    streamMode,
    onRunCreated: (run) => created.push(run),
  }),
);
const state = await client.threads.getState(thread.thread_id);
const runs = await client.runs.list(thread.thread_id);
const runId = streamed.chunks[0]?.data?.run_id;
const joined = runId
  ? await collect(client.runs.joinStream(thread.thread_id, runId, { lastEventId: "-1", streamMode }))
  : null;
console.log(JSON.stringify({ threadId: thread.thread_id, created, streamed, state, runs, joined }));
