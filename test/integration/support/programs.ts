// Small node programs the test units run (ExecStart=<node> -e <program>).

/**
 * An HTTP server that, like vLLM's EngineCore or llama.cpp's children, keeps a child process: the
 * child's PID goes to $CHILD_PID_FILE, so tests can check cgroup attribution of non-main PIDs.
 */
export const SERVER_WITH_CHILD = `
const http = require('node:http');
const fs = require('node:fs');
const { spawn } = require('node:child_process');
const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
fs.writeFileSync(process.env.CHILD_PID_FILE, String(child.pid));
const server = http.createServer((req, res) => res.end('ok'));
server.listen(0, '127.0.0.1', () => console.log('listening on ' + server.address().port + ' child ' + child.pid));
process.on('SIGTERM', () => { console.log('stopping'); child.kill(); process.exit(0); });
`;

/** Exits 3 at once: a failed unit with Result=exit-code ExecMainStatus=3. */
export const EXIT_3 = `console.error('giving up'); process.exit(3);`;

/** Prints its arguments and $GREETING as JSON, then idles: checks ExecStart= and Environment= quoting. */
export const PRINT_ARGS = `console.log('ARGS ' + JSON.stringify({ argv: process.argv.slice(1), greeting: process.env.GREETING })); setInterval(() => {}, 1000);`;

export const IDLE = `setInterval(() => {}, 1000);`;
