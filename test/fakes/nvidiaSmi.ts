// Fake nvidia-smi over the fake GPU directory (lib/gpuFiles.ts). It is exec'd by gpumod, so it is
// configured by environment, not options:
//   FAKE_GPU_DIR (required)            directory of <pid>.json holdings and foreign.json
//   FAKE_GPU_TOTAL_MB=32768[,24576]    one GPU per entry
//   FAKE_GPU_NAME="NVIDIA GeForce RTX 5090"[,…]   FAKE_GPU_UUID=prefix (index appended as 2 hex digits)
//   FAKE_GPU_BASE_MB=0, FAKE_GPU_RESERVED_MB=0  (the H100 recordings show 480 MiB reserved)
//   FAKE_GPU_FAIL=missing-driver|na|hang       FAKE_GPU_LATENCY_MS=25
// Output follows the real recordings: ", "-separated cells, MiB, optional header and units.
import { readFileSync } from 'node:fs';
import { readHolders, type GpuHolder } from './lib/gpuFiles';

interface Gpu {
  index: number;
  uuid: string;
  name: string;
  totalMb: number;
  usedMb: number;
  freeMb: number;
  reservedMb: number;
  holders: GpuHolder[];
}

type Cell = (g: Gpu, na: boolean) => { value: string; unit?: string };
const memCell = (mb: number, na: boolean): { value: string; unit?: string } => (na ? { value: '[N/A]' } : { value: String(mb), unit: 'MiB' });

const GPU_FIELDS: Record<string, { header: string; cell: Cell }> = {
  index: { header: 'index', cell: (g) => ({ value: String(g.index) }) },
  count: { header: 'count', cell: () => ({ value: String(gpus().length) }) },
  uuid: { header: 'uuid', cell: (g) => ({ value: g.uuid }) },
  name: { header: 'name', cell: (g) => ({ value: g.name }) },
  'pci.bus_id': { header: 'pci.bus_id', cell: (g) => ({ value: busId(g.index) }) },
  driver_version: { header: 'driver_version', cell: () => ({ value: '580.95.05' }) },
  'memory.total': { header: 'memory.total [MiB]', cell: (g, na) => memCell(g.totalMb, na) },
  'memory.used': { header: 'memory.used [MiB]', cell: (g, na) => memCell(g.usedMb, na) },
  'memory.free': { header: 'memory.free [MiB]', cell: (g, na) => memCell(g.freeMb, na) },
  'memory.reserved': { header: 'memory.reserved [MiB]', cell: (g, na) => memCell(g.reservedMb, na) },
  'utilization.gpu': { header: 'utilization.gpu [%]', cell: (g) => ({ value: g.holders.length ? '71' : '0', unit: '%' }) },
  'utilization.memory': { header: 'utilization.memory [%]', cell: (g) => ({ value: g.holders.length ? '12' : '0', unit: '%' }) },
  'temperature.gpu': { header: 'temperature.gpu', cell: (g) => ({ value: g.holders.length ? '46' : '43' }) },
  'power.draw': { header: 'power.draw [W]', cell: (g) => ({ value: g.holders.length ? '133.42' : '124.11', unit: 'W' }) },
};

type AppCell = (h: GpuHolder, g: Gpu, na: boolean) => { value: string; unit?: string };
const APP_FIELDS: Record<string, { header: string; cell: AppCell }> = {
  gpu_uuid: { header: 'gpu_uuid', cell: (_h, g) => ({ value: g.uuid }) },
  gpu_name: { header: 'gpu_name', cell: (_h, g) => ({ value: g.name }) },
  gpu_bus_id: { header: 'gpu_bus_id', cell: (_h, g) => ({ value: busId(g.index) }) },
  pid: { header: 'pid', cell: (h) => ({ value: String(h.pid) }) },
  process_name: { header: 'process_name', cell: (h) => ({ value: processName(h) }) },
  used_memory: { header: 'used_gpu_memory [MiB]', cell: (h, _g, na) => memCell(h.usedMb, na) },
  used_gpu_memory: { header: 'used_gpu_memory [MiB]', cell: (h, _g, na) => memCell(h.usedMb, na) },
};

function busId(index: number): string {
  return `00000000:${(0x01 + index * 0x20).toString(16).toUpperCase().padStart(2, '0')}:00.0`;
}

/** Like the real tool: the process's argv[0] (vLLM's EngineCore shows its title). */
function processName(h: GpuHolder): string {
  try {
    // A retitled fake child shows its whole command line as one word: its first word is argv[0].
    const argv0 = readFileSync(`/proc/${h.pid}/cmdline`, 'utf8').split('\0')[0].trim().split(' ')[0];
    if (argv0) return argv0;
  } catch {
    // not a live local process (a foreign entry, say)
  }
  return h.name ?? '[N/A]';
}

function envList(name: string, fallback: string): string[] {
  return (process.env[name] ?? fallback).split(',').map((s) => s.trim());
}

let cachedGpus: Gpu[] | undefined;
function gpus(): Gpu[] {
  if (cachedGpus) return cachedGpus;
  const dir = process.env.FAKE_GPU_DIR ?? '';
  const totals = envList('FAKE_GPU_TOTAL_MB', '32768').map(Number);
  const names = envList('FAKE_GPU_NAME', 'NVIDIA GeForce RTX 5090');
  const uuidPrefix = process.env.FAKE_GPU_UUID ?? 'GPU-0e90e587-2121-919b-2f88-bd4defb494';
  const baseMb = Number(process.env.FAKE_GPU_BASE_MB ?? 0);
  const reservedMb = Number(process.env.FAKE_GPU_RESERVED_MB ?? 0);
  const holders = readHolders(dir);
  cachedGpus = totals.map((totalMb, index) => {
    const mine = holders.filter((h) => h.gpu === index);
    const usedMb = baseMb + mine.reduce((s, h) => s + h.usedMb, 0);
    return {
      index,
      uuid: `${uuidPrefix}${index.toString(16).padStart(2, '0')}`,
      name: names[Math.min(index, names.length - 1)],
      totalMb,
      usedMb,
      freeMb: Math.max(0, totalMb - reservedMb - usedMb),
      reservedMb,
      holders: mine,
    };
  });
  return cachedGpus;
}

const HELP = `Fake nvidia-smi (gpumod tests). Supports:
  --query-gpu=FIELDS --format=csv[,noheader][,nounits] [-i IDX|UUID]
      FIELDS: ${Object.keys(GPU_FIELDS).join(',')}
  --query-compute-apps=FIELDS --format=csv[,noheader][,nounits] [-i IDX|UUID]
      FIELDS: ${Object.keys(APP_FIELDS).join(',')}
  -L, and no arguments (a short status table).
Environment: FAKE_GPU_DIR (required), FAKE_GPU_TOTAL_MB=32768[,…], FAKE_GPU_NAME, FAKE_GPU_UUID (prefix),
  FAKE_GPU_BASE_MB=0, FAKE_GPU_RESERVED_MB=0, FAKE_GPU_FAIL=missing-driver|na|hang, FAKE_GPU_LATENCY_MS=25.
`;

class UsageError extends Error {}

interface Query {
  kind: 'gpu' | 'apps' | 'list' | 'table';
  fields: string[];
  header: boolean;
  units: boolean;
  ids?: string[];
}

function parseArgs(argv: string[]): Query {
  const q: Query = { kind: 'table', fields: [], header: true, units: true };
  let format: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    const key = eq >= 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      if (eq >= 0) return arg.slice(eq + 1);
      if (i + 1 >= argv.length) throw new UsageError(`Option ${key} requires an argument.`);
      return argv[++i];
    };
    switch (key) {
      case '--query-gpu':
        q.kind = 'gpu';
        q.fields = value().split(',').map((s) => s.trim());
        break;
      case '--query-compute-apps':
        q.kind = 'apps';
        q.fields = value().split(',').map((s) => s.trim());
        break;
      case '--format':
        format = value();
        break;
      case '-i':
      case '--id':
        q.ids = value().split(',');
        break;
      case '-h':
      case '--help':
        process.stdout.write(HELP);
        process.exit(0);
        break;
      case '-L':
      case '--list-gpus':
        q.kind = 'list';
        break;
      default:
        throw new UsageError(`Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.`);
    }
  }
  if (q.kind === 'gpu' || q.kind === 'apps') {
    if (format === undefined) throw new UsageError(`Please specify --format=csv (optionally with ,noheader,nounits).`);
    const parts = format.split(',').map((s) => s.trim());
    if (parts[0] !== 'csv' || parts.slice(1).some((p) => p !== 'noheader' && p !== 'nounits')) throw new UsageError(`"${format}" is not a valid format.`);
    q.header = !parts.includes('noheader');
    q.units = !parts.includes('nounits');
    const known = q.kind === 'gpu' ? GPU_FIELDS : APP_FIELDS;
    for (const f of q.fields) if (!(f in known)) throw new UsageError(`Field "${f}" is not a valid field to query.`);
  } else if (format !== undefined) {
    throw new UsageError(`Invalid combination of input arguments. Please run 'nvidia-smi -h' for help.`);
  }
  return q;
}

function selected(q: Query): Gpu[] {
  if (!q.ids) return gpus();
  return gpus().filter((g) => q.ids?.some((id) => id === String(g.index) || id === g.uuid));
}

function render(q: Query, na: boolean): string {
  const lines: string[] = [];
  const fmt = (c: { value: string; unit?: string }): string => (q.units && c.unit && c.value !== '[N/A]' ? `${c.value} ${c.unit}` : c.value);
  if (q.kind === 'gpu') {
    if (q.header) lines.push(q.fields.map((f) => GPU_FIELDS[f].header).join(', '));
    for (const g of selected(q)) lines.push(q.fields.map((f) => fmt(GPU_FIELDS[f].cell(g, na))).join(', '));
  } else if (q.kind === 'apps') {
    if (q.header) lines.push(q.fields.map((f) => APP_FIELDS[f].header).join(', '));
    for (const g of selected(q)) for (const h of g.holders) lines.push(q.fields.map((f) => fmt(APP_FIELDS[f].cell(h, g, na))).join(', '));
  } else if (q.kind === 'list') {
    for (const g of selected(q)) lines.push(`GPU ${g.index}: ${g.name} (UUID: ${g.uuid})`);
  } else {
    // Bare `nvidia-smi`: a short look-alike of the status table, for people poking at the fake.
    lines.push('+-----------------------------------------------------------------------------------------+');
    lines.push('| NVIDIA-SMI 580.95.05 (fake)        Driver Version: 580.95.05      CUDA Version: 13.0     |');
    for (const g of selected(q)) lines.push(`| ${String(g.index).padEnd(3)} ${g.name.padEnd(40)} ${na ? '[N/A]' : `${g.usedMb}MiB / ${g.totalMb}MiB`}`.padEnd(90) + '|');
    lines.push('| Processes:                                                                              |');
    for (const g of selected(q)) for (const h of g.holders) lines.push(`| ${String(g.index).padEnd(3)} ${String(h.pid).padEnd(9)} C ${processName(h).padEnd(40)} ${na ? '[N/A]' : `${h.usedMb}MiB`}`.padEnd(90) + '|');
    lines.push('+-----------------------------------------------------------------------------------------+');
  }
  return lines.map((l) => `${l}\n`).join('');
}

function main(): void {
  const fail = process.env.FAKE_GPU_FAIL ?? '';
  if (fail === 'hang') {
    setInterval(() => undefined, 1 << 30);
    return;
  }
  if (fail === 'missing-driver') {
    process.stderr.write('NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n\n');
    process.exit(9);
  }
  let q: Query;
  try {
    q = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stdout.write(`${err.message}\n`);
    process.exit(2);
  }
  if (!process.env.FAKE_GPU_DIR) {
    process.stderr.write('fake nvidia-smi: FAKE_GPU_DIR is not set\n');
    process.exit(2);
  }
  const latency = Number(process.env.FAKE_GPU_LATENCY_MS ?? 25);
  // The real call takes ~25 ms and reports the state at its end.
  setTimeout(() => {
    process.stdout.write(render(q, fail === 'na'));
  }, Number.isFinite(latency) ? latency : 25);
}

main();
