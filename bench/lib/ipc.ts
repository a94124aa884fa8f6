import type { ChildProcess } from 'node:child_process';

/**
 * The next message of `type` from `child`; rejects on an `error` message or when the child exits
 * first. `name` says which child in the errors.
 */
export function nextMessage<M extends { type: string }, T extends M['type']>(child: ChildProcess, name: string, type: T): Promise<Extract<M, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: M) => {
      if (m.type === type) {
        off();
        resolve(m as Extract<M, { type: T }>);
      } else if (m.type === 'error') {
        off();
        reject(new Error(`${name}: ${(m as { message?: string }).message}`));
      }
    };
    const onExit = (code: number | null) => {
      off();
      reject(new Error(`${name} exited with ${code} while waiting for "${type}"`));
    };
    const off = () => {
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
