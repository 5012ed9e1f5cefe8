// Which service a request through the gateway is for: the model it names, by the names each service
// serves (`serves` and `model` in gpumod.yaml, and what its server lists in /v1/models).
import type { Config, ServiceConfig } from '../config/types';

/** The OpenAI-compatible paths the gateway forwards (POST), by prefix. */
export const INFERENCE_PATHS = ['/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/v1/rerank', '/rerank', '/v1/audio/'];

export function isInferencePath(pathname: string): boolean {
  return INFERENCE_PATHS.some((p) => (p.endsWith('/') ? pathname.startsWith(p) : pathname === p));
}

/** Model name → service: the config's names first, then the learnt ones (a name the config gives never moves). */
export function modelIndex(config: Config, learnt: ReadonlyMap<string, readonly string[]> = new Map()): Map<string, ServiceConfig> {
  const out = new Map<string, ServiceConfig>();
  for (const svc of config.services.values()) for (const m of svc.serves ?? (svc.model ? [svc.model] : [])) out.set(m, svc);
  for (const [name, models] of learnt) {
    const svc = config.services.get(name);
    if (svc) for (const m of models) if (!out.has(m)) out.set(m, svc);
  }
  return out;
}

const MAX_FIELD = 512;

/**
 * The model a request names: `model` of a JSON body, or the `model` field of a multipart form (the
 * audio endpoints). Undefined when it names none (or the body is not one of those).
 */
export function requestedModel(contentType: string | undefined, body: Buffer): string | undefined {
  const type = (contentType ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) return multipartField(type, contentType ?? '', body, 'model');
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const m = (v as Record<string, unknown>).model;
      return typeof m === 'string' && m.length > 0 && m.length <= MAX_FIELD ? m : undefined;
    }
  } catch {
    /* not JSON: names no model */
  }
  return undefined;
}

/** Whether a JSON body asks for a streamed answer (`"stream": true`). */
export function streamRequested(contentType: string | undefined, body: Buffer): boolean {
  if ((contentType ?? '').toLowerCase().startsWith('multipart/')) return false;
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && (v as Record<string, unknown>).stream === true;
  } catch {
    return false;
  }
}

function multipartField(lower: string, original: string, body: Buffer, field: string): string | undefined {
  const at = lower.indexOf('boundary=');
  if (at < 0) return undefined;
  let boundary = original.slice(at + 'boundary='.length).split(';')[0].trim();
  if (boundary.startsWith('"') && boundary.endsWith('"')) boundary = boundary.slice(1, -1);
  if (!boundary || boundary.length > 200) return undefined;
  const delimiter = Buffer.from(`--${boundary}`);
  let from = body.indexOf(delimiter);
  while (from >= 0) {
    const headerStart = from + delimiter.length + 2;
    const headerEnd = body.indexOf('\r\n\r\n', headerStart);
    if (headerEnd < 0) return undefined;
    const headers = body.subarray(headerStart, headerEnd).toString('latin1');
    const next = body.indexOf(delimiter, headerEnd);
    if (next < 0) return undefined;
    if (new RegExp(`^content-disposition:\\s*form-data;.*\\bname="${field}"(;|\\s*$)`, 'im').test(headers)) {
      const value = body.subarray(headerEnd + 4, next - 2).toString('utf8');
      return value.length > 0 && value.length <= MAX_FIELD ? value : undefined;
    }
    from = next;
  }
  return undefined;
}
