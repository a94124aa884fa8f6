import { TasksByRunIndex1796045963562 } from './1796045963562-TasksByRunIndex';
import { BuiltInClaimIndexes1796032774430 } from './1796032774430-BuiltInClaimIndexes';
import { ConcurrencyRoundRobin1796023966932 } from './1796023966932-ConcurrencyRoundRobin';
import { EventsWebhooks1796022361915 } from './1796022361915-EventsWebhooks';
import { RateLimitsPriorities1796020766469 } from './1796020766469-RateLimitsPriorities';
import { Schedules1796023215947 } from './1796023215947-Schedules';
import { ConcurrencyLimits1796021310606 } from './1796021310606-ConcurrencyLimits';
import { RunTrigger1796020110038 } from './1796020110038-RunTrigger';
import { ApiKeyAdmin1796020201924 } from './1796020201924-ApiKeyAdmin';
import { QueuePoll1796008663889 } from './1796008663889-QueuePoll';
import { ChildRuns1796008886353 } from './1796008886353-ChildRuns';
import { RunTagsMetadata1796008981296 } from './1796008981296-RunTagsMetadata';
import { ForEachItems1796009171861 } from './1796009171861-ForEachItems';
import { SignalsAndPause1796009198911 } from './1796009198911-SignalsAndPause';
import { LeaseSecret1796001634583 } from './1796001634583-LeaseSecret';
import { IdempotencyRequestHash1796000742520 } from './1796000742520-IdempotencyRequestHash';
import { RetryFaultBudget1795997575674 } from './1795997575674-RetryFaultBudget';
import { DistributedExecution1795822818150 } from './1795822818150-DistributedExecution';
import { Init1795820925254 } from './1795820925254-Init';
import type { MigrationInterface } from 'typeorm';

/** Every migration, oldest first. `npm run migration:generate -- <Name>` appends to this list. */
export const MIGRATIONS: (new () => MigrationInterface)[] = [Init1795820925254, DistributedExecution1795822818150, RetryFaultBudget1795997575674, IdempotencyRequestHash1796000742520, LeaseSecret1796001634583, QueuePoll1796008663889, ChildRuns1796008886353, RunTagsMetadata1796008981296, ForEachItems1796009171861, SignalsAndPause1796009198911, RunTrigger1796020110038, ApiKeyAdmin1796020201924, RateLimitsPriorities1796020766469, ConcurrencyLimits1796021310606, EventsWebhooks1796022361915, Schedules1796023215947, ConcurrencyRoundRobin1796023966932, BuiltInClaimIndexes1796032774430, TasksByRunIndex1796045963562];
