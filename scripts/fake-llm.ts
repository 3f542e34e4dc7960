// A local stand-in for OpenAI and Mistral, for trying the service without API keys:
//   npm run fake-llm   then start the service with
//   OPENAI_API_KEY=sk-local OPENAI_BASE_URL=http://127.0.0.1:8089/v1 npm start
// It answers "answer to: <prompt>" with token usage derived from the prompt's length.
import { startFakeChatServer } from "@aitasks/testing";

const port = Number(process.argv[2] ?? 8089);
const server = await startFakeChatServer(undefined, port);
console.log(`fake chat-completions server on ${server.url} (OpenAI base URL ${server.openaiBaseURL})`);
