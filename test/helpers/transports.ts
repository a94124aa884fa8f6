import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import type { GqlResult, TestApp } from './app';

/** The three ways to send an operation: HTTP POST, graphql-ws (graphql-transport-ws) and the legacy subscriptions-transport-ws. */
export const TRANSPORTS = ['http', 'graphql-ws', 'legacy'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/**
 * One operation over `transport`, its first result (or its errors). Connection failures reject;
 * a WebSocket closed by the server answers `{ closed: code }` so a test sees it (a crash would close).
 */
export async function sendOver<T = any>(
  transport: Transport,
  t: TestApp,
  query: string,
  variables?: Record<string, unknown>,
  apiKey?: string,
  timeoutMs = 15_000,
): Promise<GqlResult<T> & { closed?: number; status?: number }> {
  if (transport === 'http') {
    const res = await fetch(t.app.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    return { ...((await res.json()) as GqlResult<T>), status: res.status };
  }
  if (transport === 'graphql-ws') return viaGraphqlWs<T>(t, query, variables, apiKey, timeoutMs);
  return viaLegacy<T>(t, query, variables, apiKey, timeoutMs);
}

function viaGraphqlWs<T>(t: TestApp, query: string, variables: Record<string, unknown> | undefined, apiKey: string | undefined, timeoutMs: number) {
  return new Promise<GqlResult<T> & { closed?: number }>((resolve, reject) => {
    let closed: number | undefined;
    const client = createClient({
      url: t.app.url.replace(/^http/, 'ws'),
      webSocketImpl: WebSocket,
      connectionParams: apiKey ? { authorization: `Bearer ${apiKey}` } : {},
      retryAttempts: 0,
      lazy: true,
      on: { closed: (e) => (closed = (e as { code?: number }).code) },
    });
    const timer = setTimeout(() => finish(() => reject(new Error(`no answer over graphql-ws in ${timeoutMs} ms`))), timeoutMs);
    const finish = (then: () => void) => {
      clearTimeout(timer);
      unsubscribe();
      void client.dispose();
      then();
    };
    const unsubscribe = client.subscribe<T>(
      { query, variables },
      {
        next: (value) => finish(() => resolve(value as GqlResult<T>)),
        error: (e) => finish(() => (Array.isArray(e) ? resolve({ errors: e as GqlResult['errors'] }) : closed !== undefined ? resolve({ closed }) : reject(e))),
        complete: () => finish(() => resolve({ closed })),
      },
    );
  });
}

function viaLegacy<T>(t: TestApp, query: string, variables: Record<string, unknown> | undefined, apiKey: string | undefined, timeoutMs: number) {
  return new Promise<GqlResult<T> & { closed?: number }>((resolve, reject) => {
    const ws = new WebSocket(t.app.url.replace(/^http/, 'ws'), 'graphql-ws');
    const timer = setTimeout(() => done(() => reject(new Error(`no answer over the legacy protocol in ${timeoutMs} ms`))), timeoutMs);
    let settled = false;
    const done = (then: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.terminate();
      then();
    };
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: apiKey ? { authorization: `Bearer ${apiKey}` } : {} })));
    ws.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as { type: string; payload?: any };
      if (message.type === 'connection_ack') ws.send(JSON.stringify({ id: '1', type: 'start', payload: { query, variables } }));
      else if (message.type === 'data') done(() => resolve(message.payload as GqlResult<T>));
      else if (message.type === 'error') done(() => resolve({ errors: [message.payload] }));
      else if (message.type === 'connection_error') done(() => reject(new Error(`connection_error ${JSON.stringify(message.payload)}`)));
      else if (message.type === 'complete') done(() => resolve({}));
    });
    ws.on('close', (code) => done(() => resolve({ closed: code })));
    ws.on('error', (e) => done(() => reject(e)));
  });
}
