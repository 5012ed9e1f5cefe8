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
 */
export async function learnFrom(config: Config, obs: Observation, store: FootprintStore, log: Pick<Logger, 'warn'>, known?: Footprints): Promise<Footprints> {
  let prev: Footprints = known ?? {};
  try {
    if (!known) prev = await store.readFootprints();
  } catch (e) {
    log.warn(`could not read the footprints: ${errorMessage(e)}`);
  }
  const { footprints, changed } = updateFootprints(prev, config, obs);
  if (changed) {
    try {
      await store.writeFootprints(footprints);
    } catch (e) {
      log.warn(`could not record the footprints: ${errorMessage(e)}`);
    }
  }
  return footprints;
}
