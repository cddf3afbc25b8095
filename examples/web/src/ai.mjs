// What ai-sdk.html uses of the AI SDK, bundled into vendor/ai.js by `npm run build`.
export { DefaultChatTransport, readUIMessageStream } from "ai";
