// Streams a chat completion from a UAI agent with the official `openai` npm package, as a
// JavaScript front end does, and prints what arrived as one line of JSON.
//
// Env: OPENAI_BASE_URL (<server>/v1) and OPENAI_API_KEY (a UAI token), read by the client itself.
// Args: the message, then the model (default "echo").
import OpenAI from "openai";

const [message = "Hello from node", model = "echo"] = process.argv.slice(2);
const client = new OpenAI({ maxRetries: 0, timeout: 30_000 });
const result = { text: "", reasoning: "", chunks: 0, role: null, finish: null, usage: null, error: null };
try {
  const stream = await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: message }],
    stream: true,
    stream_options: { include_usage: true },
  });
  for await (const chunk of stream) {
    result.chunks += 1;
    if (chunk.usage) result.usage = chunk.usage;
    for (const choice of chunk.choices) {
      result.role ??= choice.delta.role ?? null;
      result.text += choice.delta.content ?? "";
      result.reasoning += choice.delta.reasoning_content ?? "";
      result.finish = choice.finish_reason ?? result.finish;
    }
  }
} catch (error) {
  if (!(error instanceof OpenAI.APIError)) throw error;
  result.error = { name: error.constructor.name, message: error.message, code: error.code ?? null };
}
console.log(JSON.stringify(result));
