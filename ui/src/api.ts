import { createClient, type Client } from 'graphql-ws';

/** The API key lives in this tab's session storage only: closing the tab signs out. */
const KEY_STORAGE = 'maestro.apiKey';

export function apiKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function setApiKey(key: string | null): void {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
  resetSubscriptions();
  for (const l of keyListeners) l();
}

const keyListeners = new Set<() => void>();
export function onKeyChange(listener: () => void): () => void {
  keyListeners.add(listener);
  return () => keyListeners.delete(listener);
}

/** A GraphQL error as the API sends it: `extensions.code` is the contract (UNAUTHENTICATED, BAD_USER_INPUT…). */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

const GRAPHQL_PATH = '/graphql';

function authorization(): Record<string, string> {
  const key = apiKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** One query or mutation over HTTP, on the same origin as the console. */
export async function request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(GRAPHQL_PATH, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authorization() },
    body: JSON.stringify({ query, variables }),
  });
  let body: { data?: T; errors?: { message: string; extensions?: { code?: string } }[] };
  try {
    body = (await res.json()) as typeof body;
  } catch {
    throw new ApiError(`The conductor answered HTTP ${res.status} without a GraphQL body`, 'HTTP_' + res.status);
  }
  if (body.errors?.length) {
    const first = body.errors[0]!;
    throw new ApiError(body.errors.map((e) => e.message).join('; '), first.extensions?.code);
  }
  return body.data as T;
}

let client: Client | null = null;

function resetSubscriptions(): void {
  void client?.dispose();
  client = null;
}

function wsClient(): Client {
  if (!client) {
    const url = new URL(GRAPHQL_PATH, window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    client = createClient({
      url: url.toString(),
      connectionParams: () => authorization(),
      lazy: true,
      retryAttempts: Infinity,
      // Not after the server refused the key (4401/4403): retrying cannot succeed.
      shouldRetry: (e) => !(typeof e === 'object' && e !== null && 'code' in e && [4401, 4403].includes((e as { code: number }).code)),
    });
    client.on('connected', () => setConnected(true));
    client.on('closed', () => setConnected(false));
  }
  return client;
}

let connected = false;
const connectionListeners = new Set<(connected: boolean) => void>();

function setConnected(value: boolean): void {
  connected = value;
  for (const l of connectionListeners) l(value);
}

/** Whether the subscription socket is open now; `listener` hears every change. */
export function onConnection(listener: (connected: boolean) => void): () => void {
  connectionListeners.add(listener);
  listener(connected);
  return () => connectionListeners.delete(listener);
}

/** Subscribes over graphql-ws (the same API); returns the unsubscribe function. */
export function subscribe<T>(query: string, variables: Record<string, unknown>, onData: (data: T) => void, onError?: (e: unknown) => void): () => void {
  return wsClient().subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        if (result.data) onData(result.data as T);
      },
      error: (e) => onError?.(e),
      complete: () => undefined,
    },
  );
}
