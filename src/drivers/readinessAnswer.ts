// The readiness request as a witness of the model's output: made deterministic where it asks for
// text, so the answer after a wake can be compared with the answer after a cold start.

/** A fixed seed: any will do, as long as it never changes. */
const SEED = 20261201;
/** A few tokens: enough to tell a corrupted model from a healthy one, cheap on any server. */
const TOKENS = 8;
const MAX_ANSWER_CHARS = 2000;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A completion or chat body (`prompt` or `messages`) with temperature 0, a fixed seed and a few tokens; others as configured. */
export function deterministicBody(body: unknown): unknown {
  if (!isPlainObject(body) || !('prompt' in body || 'messages' in body)) return body;
  return { ...body, temperature: 0, seed: SEED, max_tokens: TOKENS };
}

/** The generated text of an OpenAI-style completion or chat answer, if the body is one. */
export function answerText(parsed: unknown): string | undefined {
  if (!isPlainObject(parsed) || !Array.isArray(parsed.choices) || parsed.choices.length === 0) return undefined;
  const first: unknown = parsed.choices[0];
  if (!isPlainObject(first)) return undefined;
  const text = typeof first.text === 'string' ? first.text : isPlainObject(first.message) && typeof first.message.content === 'string' ? first.message.content : undefined;
  return text === undefined ? undefined : text.slice(0, MAX_ANSWER_CHARS);
}
