import type { Scenario } from '../lib/harness';
import { concurrencyKeys } from './concurrency-keys';
import { dag } from './dag';
import { fanout } from './fanout';
import { forEachFanOut } from './foreach';
import { graphqlRead } from './graphql-read';
import { latency } from './latency';
import { noisyNeighbour } from './noisy-neighbour';
import { remote } from './remote';
import { throughput } from './throughput';

/** In the order they run: scenario 3 loads each side at half of the peak scenario 1 measured. */
export const scenarios: Scenario[] = [throughput, remote, latency, dag, graphqlRead, fanout, noisyNeighbour, forEachFanOut, concurrencyKeys];
