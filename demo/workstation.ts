import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Document, isScalar, isSeq, visit } from 'yaml';
import type { Logger } from '../src/engine/logger';
import { createSystemd, type SystemdAdapter } from '../src/system/systemd';
import { unitFileText } from '../src/system/unitFile';
import { cardsOf, workstationProfile, type CardSet, type ProfileService } from './profile';

/**
 * The profile's eight services brought up as real systemd user units running the fakes, with a fake
 * nvidia-smi over their memory and a gpumod.yaml describing them. The manager is given (a sandbox
 * manager in tests and CI, or the user's own session for the demo); everything written is removed
 * by `teardown`. On two cards each fake is started on its service's cards, and its unit sees only
 * those (CUDA_VISIBLE_DEVICES), as a real server's unit would.
 */

/** The checkout: the nearest folder above this bundle (demo, test or bench) with gpumod's package.json. */
function findRepo(from: string): string {
  for (let d = from; ; d = dirname(d)) {
    try {
      if ((JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')) as { name?: string }).name === 'gpumod') return d;
    } catch {
      /* not here */
    }
    if (dirname(d) === d) return process.cwd();
  }
}

export const REPO = findRepo(__dirname);

export interface WorkstationOptions {
  /** Scratch directory: gpumod.yaml, the fake GPU's files, state. */
  dir: string;
  /** Environment that reaches the manager (XDG_RUNTIME_DIR, DBUS_SESSION_BUS_ADDRESS, …). */
  managerEnv: Record<string, string>;
  /** Where unit files go: a directory the manager loads units from. */
  unitDir: string;
  timeScale: number;
  /** One card ('32', '24') or two 24 GB cards ('2x24': the two-card profile and modes). */
  card: CardSet;
  portBase?: number;
  /** Prefixed to every unit name, so a user's session never sees ours clash with theirs. */
  unitPrefix?: string;
  log: Logger;
  /** Extra fake options per service (faults, lags), appended to the profile's. */
  extraArgs?: Record<string, string[]>;
  /** The services with their fakes' figures (default: the card set's, demo/profile.ts). */
  profile?: ProfileService[];
  /** Extra gpumod.yaml keys per service (a readiness request, say), merged into the profile's entry. */
  extraConfig?: Record<string, Record<string, unknown>>;
}

export interface Workstation {
  configPath: string;
  /** What gpumod needs to see this machine: the manager, the fake nvidia-smi, its own state dir. */
  env: Record<string, string>;
  systemd: SystemdAdapter;
  units: Map<string, string>;
  ports: Map<string, number>;
  /** Stops every unit (in parallel) and waits until each is inactive. */
  stopAll(): Promise<void>;
  teardown(): Promise<void>;
}

/** The fake's cards from the service's entry: `--gpus` for a vLLM spread over several, `--gpu-index` for one named card. */
function cardArgs(s: ProfileService): string[] {
  const cards = cardsOf(s);
  if (cards.length > 1) return ['--gpus', cards.join(',')];
  return 'gpu' in s.config ? ['--gpu-index', String(cards[0])] : [];
}

export function fakeArgs(s: ProfileService, port: number, opts: Pick<WorkstationOptions, 'timeScale' | 'extraArgs'>, gpuDir: string): string[] {
  return [
    join(REPO, 'out/test/fakes', `${s.fake}.js`),
    '--port', String(port),
    '--time-scale', String(opts.timeScale),
    '--gpu-dir', gpuDir,
    ...cardArgs(s),
    ...s.args,
    ...(opts.extraArgs?.[s.name] ?? []),
  ];
}

export function workstationConfig(
  units: Map<string, string>,
  ports: Map<string, number>,
  card: CardSet,
  profile: ProfileService[] = workstationProfile(card).services,
  extraConfig: Record<string, Record<string, unknown>> = {},
): string {
  const services: Record<string, unknown> = {};
  for (const s of profile) services[s.name] = { ...s.config, ...extraConfig[s.name], unit: units.get(s.name), port: ports.get(s.name) };
  const where = card === '2x24' ? 'on two 24 GB cards' : `on a ${card} GB card`;
  // Deadlines scale with the card's profile, not the time scale: the fakes are faster, never slower.
  const doc = new Document({ budget: { margin_mb: 512 }, services, modes: workstationProfile(card).modes });
  // A service's cards as people write them: gpus: [0, 1].
  visit(doc, { Pair: (_, pair) => void (isScalar(pair.key) && pair.key.value === 'gpus' && isSeq(pair.value) && (pair.value.flow = true)) });
  return `# The demo workstation (docs/WORKSTATION.md) ${where}.\n` + doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

export async function bringUp(opts: WorkstationOptions): Promise<Workstation> {
  const gpuDir = join(opts.dir, 'gpu');
  const stateHome = join(opts.dir, 'state');
  mkdirSync(gpuDir, { recursive: true });
  mkdirSync(opts.unitDir, { recursive: true });
  const prefix = opts.unitPrefix ?? '';
  const base = opts.portBase ?? 17070;
  const units = new Map<string, string>();
  const ports = new Map<string, number>();
  const layout = workstationProfile(opts.card);
  const profile = opts.profile ?? layout.services;
  profile.forEach((s, i) => {
    units.set(s.name, `${prefix}${s.name}.service`);
    ports.set(s.name, base + i);
  });
  for (const s of profile) {
    const unit = units.get(s.name) as string;
    const text = unitFileText(unit, {
      description: `gpumod demo: fake ${s.fake} as ${s.name}`,
      execStart: [process.execPath, ...fakeArgs(s, ports.get(s.name) as number, opts, gpuDir)],
      // The fakes take their cards from their arguments; the variable is what a real server's unit
      // sets, and what `gpumod doctor` checks against gpu/gpus.
      env: layout.cards.length > 1 ? { CUDA_VISIBLE_DEVICES: cardsOf(s).join(',') } : undefined,
      service: { KillMode: 'control-group', TimeoutStopSec: '10' },
    });
    writeFileSync(join(opts.unitDir, unit), text);
  }
  const configPath = join(opts.dir, 'gpumod.yaml');
  writeFileSync(configPath, workstationConfig(units, ports, opts.card, profile, opts.extraConfig));
  const env: Record<string, string> = {
    ...opts.managerEnv,
    GPUMOD_NVIDIA_SMI: join(REPO, 'test/fakes/bin/nvidia-smi'),
    FAKE_GPU_DIR: gpuDir,
    FAKE_GPU_TOTAL_MB: layout.cards.map((c) => c.totalMb).join(','),
    FAKE_GPU_NAME: layout.cards[0].name,
    XDG_STATE_HOME: stateHome,
    GPUMOD_CONFIG: configPath,
  };
  const systemd = createSystemd(opts.log, { env });
  await systemd.daemonReload({ timeoutMs: 15000 });

  const stopAll = async (): Promise<void> => {
    await Promise.all([...units.values()].map((u) => systemd.stop(u, { timeoutMs: 30000 }).catch(() => undefined)));
  };
  return {
    configPath,
    env,
    systemd,
    units,
    ports,
    stopAll,
    async teardown(): Promise<void> {
      await stopAll();
      await Promise.all([...units.values()].map((u) => systemd.resetFailed(u, { timeoutMs: 10000 }).catch(() => undefined)));
      for (const u of units.values()) rmSync(join(opts.unitDir, u), { force: true });
      await systemd.daemonReload({ timeoutMs: 15000 }).catch(() => undefined);
      rmSync(gpuDir, { recursive: true, force: true });
    },
  };
}

/** Pids of processes still alive whose command line mentions the fakes of this checkout (for leak checks). */
export function strayFakes(): number[] {
  try {
    const out = execFileSync('pgrep', ['-f', join(REPO, 'out/test/fakes')], { encoding: 'utf8' });
    return out.split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
