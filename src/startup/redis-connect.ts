import type { Redis } from 'ioredis';

/**
 * Connects an ioredis client created with `lazyConnect`, or throws the reason it could not. On
 * failure ioredis rejects with "Connection is closed." and keeps reconnecting in the background;
 * this throws the socket's own error (ECONNREFUSED, WRONGPASS, …) and stops the client.
 */
export async function connectRedis(client: Redis): Promise<void> {
  let last: Error | null = null;
  const onError = (e: Error) => {
    last ??= e;
  };
  client.on('error', onError);
  try {
    await client.connect();
  } catch (e: unknown) {
    client.disconnect();
    throw last ?? e;
  } finally {
    client.off('error', onError);
  }
}
