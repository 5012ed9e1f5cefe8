/**
 * The one logging port. VS Code's LogOutputChannel satisfies it as is; the CLI passes a stderr logger.
 * Processes and HTTP calls are logged as `> systemctl --user start x.service [71ms]`.
 */
export interface Logger {
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string | Error): void;
}

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
