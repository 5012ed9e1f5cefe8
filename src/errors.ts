/** Typed error codes, so callers branch on `code` rather than on message text. */
export type GpumodErrorCode =
  | 'CONFIG_INVALID'
  | 'CONFIG_NOT_FOUND'
  | 'FILE_REFUSED'
  | 'PROCESS_FAILED'
  | 'PROCESS_TIMEOUT'
  | 'HTTP_ERROR'
  | 'HTTP_UNREACHABLE'
  | 'HTTP_TIMEOUT'
  | 'HTTP_BAD_RESPONSE'
  | 'SLEEP_NOT_ENABLED'
  | 'SLEEP_INEFFECTIVE'
  | 'WAKE_CHANGED'
  | 'LOAD_FAILED'
  | 'DEADLINE'
  | 'CANCELLED'
  | 'GPU_UNAVAILABLE'
  | 'LOCKED'
  | 'BUDGET'
  | 'SWITCH_FAILED'
  | 'USAGE';

/** Marks gpumod's errors: the extension's two bundles each hold a copy of this class (see src/ui/core.ts). */
const BRAND = Symbol.for('gpumod.error');

export class GpumodError extends Error {
  readonly [BRAND] = true;
  constructor(
    readonly code: GpumodErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GpumodError';
  }
}

export function isGpumodError(e: unknown, code?: GpumodErrorCode): e is GpumodError {
  return typeof e === 'object' && e !== null && BRAND in e && (code === undefined || (e as GpumodError).code === code);
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
