// The two parts of undici gpumod uses: a keep-alive Agent and request(). undici's index also loads
// fetch, WebSocket, caches and mocks, which would double its share of the vsix (~70 KB compressed).
// The deep paths are undici's own files at the version package-lock pins; the HTTP tests cover them.
import type { Agent as AgentClass, Dispatcher } from 'undici';

type RequestFn = (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

/* eslint-disable @typescript-eslint/no-require-imports */
export const Agent = require('undici/lib/dispatcher/agent') as typeof AgentClass;
const requestOn = (require('undici/lib/api') as { request: RequestFn }).request;
/* eslint-enable @typescript-eslint/no-require-imports */

export type RequestOptions = Omit<Dispatcher.RequestOptions, 'origin' | 'path'> & { dispatcher: Dispatcher };

/** undici's request(url, opts) on an explicit dispatcher: the URL becomes origin and path as undici's index does. */
export function request(url: URL, opts: RequestOptions): Promise<Dispatcher.ResponseData> {
  const { dispatcher, ...rest } = opts;
  return requestOn.call(dispatcher, { ...rest, origin: url.origin, path: `${url.pathname}${url.search}` });
}
