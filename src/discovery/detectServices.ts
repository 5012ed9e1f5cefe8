import { GpumodError } from '../errors';
import { ifPresent, readRegularFile } from '../system/regularFile';
import { MAX_CONFIG_BYTES } from '../config/load';
import type { ProcessOptions } from '../engine/machinePorts';
import { detect, type DetectPorts, type Detection } from './detect';
import { buildProposal, type Proposal } from './proposal';
import { existingServices } from './proposalYaml';

export interface DetectedProposal {
  /** The config file's text now, undefined when there is none. */
  current: string | undefined;
  /** Mode names the file has already. */
  modes: Set<string>;
  detection: Detection;
  proposal: Proposal;
}

/**
 * Reads the config file (refusing one that is not YAML: nothing could be merged into it), looks at
 * the machine and proposes what is not configured yet. The one sequence the CLI and the extension share.
 */
export async function detectServices(ports: DetectPorts, configPath: string, opts: ProcessOptions = {}): Promise<DetectedProposal> {
  const buf = await ifPresent(readRegularFile(configPath, { maxBytes: MAX_CONFIG_BYTES }));
  const current = buf?.toString('utf8');
  const existing = existingServices(current);
  if (!existing.ok) throw new GpumodError('CONFIG_INVALID', `${configPath}: ${existing.problem}`);
  const detection = await detect(ports, opts);
  return { current, modes: existing.existing.modes, detection, proposal: buildProposal(detection, existing.existing) };
}
