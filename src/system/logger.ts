import type { Logger } from '../engine/logger';

export const silentLogger: Logger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';
const ORDER: Level[] = ['trace', 'debug', 'info', 'warn', 'error'];

/** A logger writing `[level] message` lines to a stream (the CLI's stderr), from `min` upwards. */
export function streamLogger(write: (line: string) => void, min: Level = 'info'): Logger {
  const at = (level: Level) => (message: string | Error): void => {
    if (ORDER.indexOf(level) < ORDER.indexOf(min)) return;
    const text = message instanceof Error ? message.stack ?? message.message : message;
    write(`[${level}] ${text}\n`);
  };
  return { trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
