// nvidia-smi's CSV output (`--format=csv,noheader,nounits`, header and units tolerated): the fields
// gpumod asks for and their parsers. The recorded outputs are in test/fixtures/nvidia-smi.
import type { GpuInfo } from '../engine/machinePorts';

export const GPU_FIELDS = ['index', 'uuid', 'name', 'memory.total', 'memory.used', 'memory.free'] as const;
/** No process_name: it may contain commas, which breaks the CSV (protocols.md 3.1). */
export const APPS_FIELDS = ['gpu_uuid', 'pid', 'used_memory'] as const;

export const GPU_QUERY_ARGS = [`--query-gpu=${GPU_FIELDS.join(',')}`, '--format=csv,noheader,nounits'];
export const APPS_QUERY_ARGS = [`--query-compute-apps=${APPS_FIELDS.join(',')}`, '--format=csv,noheader,nounits'];

export type GpuRow = Omit<GpuInfo, 'processes'>;

export interface AppRow {
  gpuUuid: string;
  pid: number;
  usedMb: number | undefined;
}

/** A cell as MiB; `[N/A]`, `[Not Supported]` and anything else non-numeric is unknown, not 0. */
function mib(cell: string | undefined): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(?:\s*MiB)?$/.exec((cell ?? '').trim());
  return m ? Number(m[1]) : undefined;
}

function rows(text: string): string[][] {
  return text
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l.trim() !== '')
    .map((l) => l.split(', ').map((c) => c.trim()));
}

/**
 * `--query-gpu=…` output for the given field list (default index,uuid,name,memory.total,memory.used,
 * memory.free). Extra trailing fields, a header line and " MiB" units are tolerated.
 */
export function parseGpuQuery(text: string, fields: readonly string[] = GPU_FIELDS): GpuRow[] {
  const at = (name: string): number => fields.indexOf(name);
  const [iIndex, iUuid, iName, iTotal, iUsed, iFree] = ['index', 'uuid', 'name', 'memory.total', 'memory.used', 'memory.free'].map(at);
  const out: GpuRow[] = [];
  for (const cells of rows(text)) {
    if (cells.length < fields.length || !/^\d+$/.test(cells[iIndex] ?? '')) continue; // header line
    out.push({
      index: Number(cells[iIndex]),
      uuid: iUuid === -1 ? '' : cells[iUuid],
      name: iName === -1 ? '' : cells[iName],
      totalMb: mib(cells[iTotal]),
      usedMb: mib(cells[iUsed]),
      freeMb: mib(cells[iFree]),
    });
  }
  return out;
}

/**
 * `--query-compute-apps=…` output for the given field list (default gpu_uuid,pid,used_memory).
 * Empty output means no processes. When the list includes process_name (as the recordings do), the
 * cells beyond the field count are folded into it, so a name with ", " does not shift the columns.
 */
export function parseAppsQuery(text: string, fields: readonly string[] = APPS_FIELDS): AppRow[] {
  const iUuid = fields.indexOf('gpu_uuid');
  const iPid = fields.indexOf('pid');
  const iMem = fields.findIndex((f) => f === 'used_memory' || f === 'used_gpu_memory');
  const iName = fields.indexOf('process_name');
  const out: AppRow[] = [];
  for (let cells of rows(text)) {
    if (cells.length < fields.length) continue;
    if (iName !== -1 && cells.length > fields.length) {
      const extra = cells.length - fields.length;
      cells = [...cells.slice(0, iName), cells.slice(iName, iName + extra + 1).join(', '), ...cells.slice(iName + extra + 1)];
    }
    const pid = cells[iPid];
    if (!/^\d+$/.test(pid ?? '')) continue; // header line
    out.push({ gpuUuid: cells[iUuid], pid: Number(pid), usedMb: iMem === -1 ? undefined : mib(cells[iMem]) });
  }
  return out;
}
