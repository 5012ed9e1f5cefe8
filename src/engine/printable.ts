// Text read from files (state, lock, history) is shown in terminals and the window: a hand-edited or
// hostile file must not be able to move the cursor, recolour the screen or hide text.

/** ANSI CSI and OSC sequences, then any other C0/C1 control character and the bidirectional overrides. */
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?/g;
const CONTROLS = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** `text` without control characters or escape sequences, cut to `maxChars` (an ellipsis marks the cut). */
export function printable(text: string, maxChars = 200): string {
  const clean = text.replace(ESCAPES, '').replace(CONTROLS, '');
  return clean.length > maxChars ? `${clean.slice(0, maxChars - 1)}…` : clean;
}
