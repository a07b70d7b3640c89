// Stand-ins for the junk engines' health answers only: rspamd's GET /ping ("pong") and spamd's PING
// ("SPAMD/1.5 0 PONG"), what the spam-engines probe asks. They score nothing; the real daemons are in test/daemons.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';

export interface PingServer {
  /** HOST:PORT, as filters.rspamd.address / filters.spamd.address take it. */
  address: string;
  stop(): Promise<void>;
}

async function listening(server: HttpServer | TcpServer): Promise<PingServer> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as { port: number }).port}`,
    stop: () => {
      if ('closeAllConnections' in server) server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** rspamd's normal worker as far as /ping goes; `delayMs` answers late, `hang` never. */
export function fakeRspamd(options: { status?: number; body?: string; delayMs?: number; hang?: boolean } = {}): Promise<PingServer> {
  return listening(
    createHttpServer((req, res) => {
      if (options.hang) return;
      setTimeout(() => {
        res.writeHead(req.url === '/ping' ? (options.status ?? 200) : 404, { 'Content-Type': 'text/plain' });
        res.end(req.url === '/ping' ? (options.body ?? 'pong\r\n') : 'not found');
      }, options.delayMs ?? 0);
    }),
  );
}

/** spamd as far as PING goes (answers once the request's blank line is in); `answer: null` never answers. */
export function fakeSpamd(answer: string | null = 'SPAMD/1.5 0 PONG\r\n'): Promise<PingServer> {
  const sockets = new Set<import('node:net').Socket>();
  // half-open like a real daemon: the client's end after PING does not close our side before we answer
  const server = createTcpServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let request = '';
    socket.on('error', () => {});
    socket.on('data', (chunk) => {
      request += chunk.toString('latin1');
      if (answer !== null && request.includes('\r\n\r\n')) socket.end(request.startsWith('PING SPAMC/') ? answer : 'SPAMD/1.5 76 Bad header line\r\n');
    });
  });
  return listening(server).then((ping) => ({
    ...ping,
    stop: () => {
      for (const socket of sockets) socket.destroy();
      return ping.stop();
    },
  }));
}

/** HOST:PORT of a port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<string> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address;
}
