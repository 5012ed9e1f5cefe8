// A `vllm serve` stand-in for gpumod doctor's tests: takes the flags and environment a real vLLM unit
// has and runs the fake vLLM (out/test/fakes/vllm.js) the way the real server would behave with them:
//   --enable-sleep-mode           absent: /sleep answers but frees nothing (--sleep-mode-enabled off)
//   VLLM_SERVER_DEV_MODE=1        absent: the dev endpoints answer 404 (--dev-mode off)
//   --host                        absent: vLLM binds every interface (0.0.0.0)
// Every other argument goes to the fake unchanged.
// Usage: node test/samples/doctor/vllmServe.cjs [--enable-sleep-mode] [--host H] --port N [fake options…]
'use strict';
const path = require('node:path');

const fake = path.join(__dirname, '../../../out/test/fakes/vllm.js');
const args = process.argv.slice(2);
const sleepMode = args.includes('--enable-sleep-mode');
const rest = args.filter((a) => a !== '--enable-sleep-mode');
if (!rest.some((a) => a === '--host' || a.startsWith('--host='))) rest.push('--host', '0.0.0.0');
rest.push('--sleep-mode-enabled', sleepMode ? 'on' : 'off', '--dev-mode', process.env.VLLM_SERVER_DEV_MODE === '1' ? 'on' : 'off');
process.argv = [process.argv[0], fake, ...rest];
require(fake);
