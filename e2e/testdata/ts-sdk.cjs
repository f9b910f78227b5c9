// Drives the official TypeScript SDK against `claude-secure serve`.
// Env: GATEWAY_URL, GATEWAY_TOKEN, and PROMPT, or DOC_PARAMS (the request
// of the JSON-documents case, as JSON). Prints one JSON line with what the
// SDK returned; the Go test compares it (and prints none of it).
const Anthropic = require('@anthropic-ai/sdk');

async function main() {
  const params = {
    model: 'claude-fake',
    max_tokens: 200,
    messages: [{ role: 'user', content: process.env.PROMPT }],
    tools: [{ name: 'describe_instance', input_schema: { type: 'object', properties: { instance_id: { type: 'string' } } } }],
  };
  // the gateway token as the API key
  const client = new Anthropic({ apiKey: process.env.GATEWAY_TOKEN, baseURL: process.env.GATEWAY_URL, maxRetries: 0 });
  const stream = client.messages.stream(params);
  let streamedText = '';
  stream.on('text', (t) => { streamedText += t; });
  const streamed = await stream.finalMessage();
  // the gateway token as a bearer token
  const bearer = new Anthropic({ authToken: process.env.GATEWAY_TOKEN, apiKey: null, baseURL: process.env.GATEWAY_URL, maxRetries: 0 });
  const plain = await bearer.messages.create(params);
  const count = await client.messages.countTokens({ model: params.model, messages: params.messages });
  let refused = 0;
  try {
    const bad = new Anthropic({ apiKey: 'sk-ant-not-a-gateway-token', baseURL: process.env.GATEWAY_URL, maxRetries: 0 });
    await bad.messages.create(params);
  } catch (e) {
    refused = e.status || -1;
  }
  const pick = (m) => ({
    text: m.content.filter((b) => b.type === 'text').map((b) => b.text).join(''),
    input: (m.content.find((b) => b.type === 'tool_use') || {}).input,
  });
  console.log(JSON.stringify({ streamed: pick(streamed), streamedText, plain: pick(plain), inputTokens: count.input_tokens, refused }));
}

// The JSON-documents case: a tool input and a tool result holding JSON
// documents in strings; the answer's tool input holds one too, streamed in
// pieces cut inside the values. Returns the text and the tool input the SDK
// built, and the input_json_delta events joined as they arrived.
async function documents() {
  const params = JSON.parse(process.env.DOC_PARAMS);
  const client = new Anthropic({ apiKey: process.env.GATEWAY_TOKEN, baseURL: process.env.GATEWAY_URL, maxRetries: 0 });
  const pick = (m) => ({
    text: m.content.filter((b) => b.type === 'text').map((b) => b.text).join(''),
    input: (m.content.find((b) => b.type === 'tool_use') || {}).input,
  });
  const stream = client.messages.stream(params);
  let streamedText = '';
  let partialJson = '';
  stream.on('text', (t) => { streamedText += t; });
  stream.on('streamEvent', (e) => {
    if (e.type === 'content_block_delta' && e.delta.type === 'input_json_delta') partialJson += e.delta.partial_json;
  });
  const streamed = { ...pick(await stream.finalMessage()), partialJson };
  const plain = pick(await client.messages.create(params));
  console.log(JSON.stringify({ streamed, streamedText, plain }));
}

(process.env.DOC_PARAMS ? documents() : main()).catch((e) => {
  console.error('ts-sdk: ' + (e && e.constructor && e.constructor.name) + ' status ' + (e && e.status));
  process.exit(1);
});
