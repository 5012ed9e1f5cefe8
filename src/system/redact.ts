// What may be logged of a URL: the endpoints gpumod calls come from the user's config, which may
// carry credentials (`/health?token=…`, `http://user:pass@…`); logs and messages never show them.

/** Query parameters whose values are credentials by their name (`?token=`, `?api_key=`) or their look (`sk-…`). */
const SECRET_NAME = /token|key|secret|pass|auth|sig|session|cred/i;
const SECRET_VALUE = /^(sk|pk|rk)-|^(hf|ghp|gho|github_pat|xox[a-z])_/i;

/**
 * A URL (or a path such as `/health?token=…`) as it may appear in logs and messages: user info and
 * secret-looking query values masked. Unchanged, byte for byte, when there is nothing to mask.
 */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url, 'http://path.invalid');
  } catch {
    return redactUnparsed(url);
  }
  const secret = [...u.searchParams].filter(([k, v]) => SECRET_NAME.test(k) || SECRET_VALUE.test(v));
  if (secret.length === 0 && !u.username && !u.password) return url;
  for (const [k] of secret) u.searchParams.set(k, '***');
  if (u.username) u.username = '***';
  if (u.password) u.password = '***';
  return url.startsWith('/') ? `${u.pathname}${u.search}${u.hash}` : u.href;
}

/** The same masking by pattern, for text the URL parser refuses (`http://user:pw@127.999.0.1/`): it is still logged. */
function redactUnparsed(url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1***@')
    .replace(/([?&])([^=&#]*)=([^&#]*)/g, (m: string, sep: string, k: string, v: string) => (SECRET_NAME.test(k) || SECRET_VALUE.test(v) ? `${sep}${k}=***` : m));
}
