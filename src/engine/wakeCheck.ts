import { GpumodError } from '../errors';

function quote(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
}

/**
 * A woken model must answer the deterministic readiness request as it did after its cold start; a
 * different answer means it was woken wrong. Undefined when there is nothing to compare or it matches.
 */
export function wakeChanged(service: string, answer: string | undefined, reference: string | undefined): GpumodError | undefined {
  if (reference === undefined || answer === undefined || answer === reference) return undefined;
  return new GpumodError(
    'WAKE_CHANGED',
    `${service} answers ${quote(answer)} after its wake where it answered ${quote(reference)} after its cold start: woken wrong (an L2 wake without reload_weights, a stale prefix cache or LoRA adapters corrupted by a wake do this)`,
  );
}
