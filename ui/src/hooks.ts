import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, onConnection, onKeyChange, request, subscribe } from './api';

export interface Loaded<T> {
  data: T | null;
  error: ApiError | null;
  loading: boolean;
  reload: () => void;
}

/** A query, reloaded when its variables or the API key change, or when `reload()` is called. */
export function useQuery<T>(query: string, variables: Record<string, unknown> = {}): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: ApiError | null; loading: boolean }>({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  const vars = JSON.stringify(variables);
  useEffect(() => onKeyChange(() => setTick((t) => t + 1)), []);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    request<T>(query, JSON.parse(vars) as Record<string, unknown>).then(
      (data) => live && setState({ data, error: null, loading: false }),
      (e: unknown) => live && setState((s) => ({ data: s.data, error: toApiError(e), loading: false })),
    );
    return () => {
      live = false;
    };
  }, [query, vars, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

export function toApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(e instanceof Error ? e.message : String(e), undefined);
}

/**
 * Calls `onEvent` for each event of a subscription, coalesced: a burst of events (a fan-out of
 * 100 items finishing) runs it once per `windowMs`, so the page refetches once, not 100 times.
 */
export function useLiveRefresh(query: string, variables: Record<string, unknown>, onEvent: () => void, windowMs = 250): boolean {
  const [connected, setConnected] = useState(false);
  const latest = useRef(onEvent);
  latest.current = onEvent;
  const vars = JSON.stringify(variables);
  const [keyTick, setKeyTick] = useState(0);
  useEffect(() => onKeyChange(() => setKeyTick((t) => t + 1)), []);
  // Reconnected after a drop: events in between were missed, so reload once.
  useEffect(() => {
    let dropped = false;
    return onConnection((up) => {
      setConnected(up);
      if (!up) dropped = true;
      else if (dropped) {
        dropped = false;
        latest.current();
      }
    });
  }, [keyTick]);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | null = null;
    const unsubscribe = subscribe(query, JSON.parse(vars) as Record<string, unknown>, () => {
      timer ??= setTimeout(() => {
        timer = null;
        latest.current();
      }, windowMs);
    });
    return () => {
      if (timer) clearTimeout(timer);
      unsubscribe();
    };
  }, [query, vars, windowMs, keyTick]);
  return connected;
}

/** Performs a mutation, holding its error for display. */
export function useAction(): { busy: boolean; error: ApiError | null; run: <T>(query: string, variables: Record<string, unknown>) => Promise<T | null> } {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError | null>(null);
  const run = useCallback(async <T>(query: string, variables: Record<string, unknown>): Promise<T | null> => {
    setBusy(true);
    setError(null);
    try {
      return await request<T>(query, variables);
    } catch (e: unknown) {
      setError(toApiError(e));
      return null;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run };
}
