import type { Config } from '../config/types';
import { errorMessage } from '../errors';
import { updateFootprints, type Footprints } from './footprints';
import type { Logger } from './logger';
import type { StateStore } from './ports';
import type { Observation } from './types';

type FootprintStore = Pick<StateStore, 'readFootprints' | 'writeFootprints'>;

/**
 * Folds what `obs` measured into the stored footprints and writes them when a figure changed.
 * Best effort: a store that cannot be read or written never fails the observation that fed it.
 * `background`: returns without waiting for the write (a switch's first look: its commit waits for
 * its own write, which the store orders after this one).
 */
export async function learnFrom(
  config: Config,
  obs: Observation,
  store: FootprintStore,
  log: Pick<Logger, 'warn'>,
  known?: Footprints,
  background = false,
): Promise<Footprints> {
  let prev: Footprints = known ?? {};
  try {
    if (!known) prev = await store.readFootprints();
  } catch (e) {
    log.warn(`could not read the footprints: ${errorMessage(e)}`);
  }
  const { footprints, changed } = updateFootprints(prev, config, obs);
  if (changed) {
    const written = store.writeFootprints(footprints).catch((e: unknown) => log.warn(`could not record the footprints: ${errorMessage(e)}`));
    if (!background) await written;
  }
  return footprints;
}
