import type { StepEvent } from '../engine/steps';
import { progressLine } from '../engine/stepText';
import type { CliIo } from './io';

/** Prints each finished step as it ends. */
export function printProgress(io: CliIo): (e: StepEvent) => void {
  return (e) => {
    const line = progressLine(e);
    if (line) io.out(line + '\n');
  };
}
