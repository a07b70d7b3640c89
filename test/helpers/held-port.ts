import { createServer, type AddressInfo } from 'node:net';

/** A port on 127.0.0.1 held by another program, as an admin meets it: bind to it and get EADDRINUSE. */
export interface HeldPort {
  readonly port: number;
  /** Frees the port; safe to call twice. */
  release(): Promise<void>;
}

export async function heldPort(): Promise<HeldPort> {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
  const { port } = holder.address() as AddressInfo;
  return {
    port,
    release: () => new Promise<void>((resolve) => (holder.listening ? holder.close(() => resolve()) : resolve())),
  };
}
