/**
 * The extension's second bundle (core.ts), loaded by the first call: after activation, when the first
 * config is read. Every use of the engine and the machine from the window goes through here.
 */
export const core = (): typeof import('./core') => require('./core') as typeof import('./core');
