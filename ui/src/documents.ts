// The console's GraphQL documents, against schema.graphql at the repository root.

export const RUN_FIELDS = `id status createdAt startedAt finishedAt pausedAt tags error workflow { name version }`;

export const RUNS = `query Runs($filter: RunFilter, $first: Int, $after: String, $last: Int, $before: String) {
  runs(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes { ${RUN_FIELDS} }
  }
}`;

export const RUN_EVENTS = `subscription RunEvents($workflow: String) {
  runEvents(workflow: $workflow) { runId seq type status taskKey }
}`;

export const RUN_UPDATED = `subscription RunUpdated($id: ID!, $afterSeq: Int) {
  runUpdated(id: $id, afterSeq: $afterSeq) { runId seq type status taskKey }
}`;

const WAIT_FIELDS = `kind taskId taskKey since until
  ... on DependenciesWait { stepKeys }
  ... on NoWorkerWait { queue lastPolledAt lastWorkerId }
  ... on DispatchWait { queue lastPolledAt }
  ... on WorkerWait { workerId leaseExpiresAt deadlineAt }
  ... on RetryBackoffWait { error attempt }
  ... on SignalWait { name }
  ... on ChildRunWait { childRunId }
  ... on ItemsWait { itemCount itemsLeft itemsActive }
  ... on ConcurrencyWait { limit max key position holders }
  ... on RateLimitWait { rateLimitKey: key }
  ... on RunPausedWait { pausedAt }`;

export const RUN = `query Run($id: ID!) {
  run(id: $id) {
    ${RUN_FIELDS}
    input output metadata depth
    parent { id workflow { name } }
    parentTask { id key }
    workflow { name version steps { key type queue dependsOn when forEach } }
    children { id status workflow { name } }
    waitingFor { ${WAIT_FIELDS} }
    tasks {
      id key type queue status attempt failures input output error workerId
      createdAt queuedAt startedAt finishedAt parentTaskId item index itemCount failedItems
      childRun { id status workflow { name } }
      attempts { attempt workerId startedAt finishedAt outcome cause fault error }
    }
  }
}`;

export const CANCEL_RUN = `mutation CancelRun($id: ID!) { cancelRun(id: $id) { id status } }`;
export const RETRY_RUN = `mutation RetryRun($id: ID!) { retryRun(id: $id) { id status } }`;
export const PAUSE_RUN = `mutation PauseRun($id: ID!) { pauseRun(id: $id) { id status } }`;
export const RESUME_RUN = `mutation ResumeRun($id: ID!) { resumeRun(id: $id) { id status } }`;
export const SIGNAL_RUN = `mutation SignalRun($id: ID!, $name: String!, $payload: JSON) { signalRun(id: $id, name: $name, payload: $payload) { id status } }`;
export const CANCEL_RUNS = `mutation CancelRuns($filter: RunFilter!, $reason: String) { cancelRuns(filter: $filter, reason: $reason) }`;

export const WORKFLOWS = `query Workflows($first: Int, $after: String) {
  workflows(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id name version description createdAt }
  }
}`;

export const WORKFLOW = `query Workflow($name: String!, $version: Int) {
  workflow(name: $name, version: $version) {
    id name version description inputSchema timeoutMs createdAt
    steps { key type queue dependsOn input timeoutMs when forEach maxConcurrency continueOnItemFailure
      retry { maxAttempts initialDelayMs backoffFactor } }
  }
}`;

export const QUEUES = `query Queues {
  queues { name depth running oldestQueuedAt lastPolledAt lastPollWorkerId workers { workerId tasks lastStartedAt } }
}`;

export const ME = `query Ping { workflows(first: 1) { totalCount } }`;
