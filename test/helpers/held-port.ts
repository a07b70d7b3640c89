import { createServer, type AddressInfo, type Socket } from 'node:net';

/** A port on 127.0.0.1 held by another program, as an admin meets it: bind to it and get EADDRINUSE. */
export interface HeldPort {
  readonly port: number;
  /** Frees the port; safe to call twice. */
  release(): Promise<void>;
}

export async function heldPort(): Promise<HeldPort> {
  const connected = new Set<Socket>();
  const holder = createServer((socket) => {
    connected.add(socket);
    socket.on('close', () => connected.delete(socket));
  });
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const { port } = holder.address() as AddressInfo;
  return {
    port,
    // close() waits for every connection to end: a client that stays would hold the test
    release: () =>
      new Promise<void>((resolve) => {
        for (const socket of connected) socket.destroy();
        if (holder.listening) holder.close(() => resolve());
        else resolve();
      }),
  };
}
