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
