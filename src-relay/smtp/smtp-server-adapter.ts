// The smtp-server adapter (issue 13). Moat drives smtp-server through its documented options and hooks (onConnect,
// onSecure, onAuth, onMailFrom, onRcptTo, onData, onClose; listen, close; session, session.error,
// session.disabledCommands). What it needs beyond them lives here and only here, written against one exact release
// (SMTP_SERVER_VERSION, pinned in package.json and checked when a listener is built). Each behaviour relied on has a
// test over a real server (test/unit/smtp/smtp-server-adapter.test.ts), so a release that changes one fails a test,
// not production. What lies beyond the public API, and why Moat needs it:
//  - server.server, the net.Server under it: the address bound (port 0 in tests) and a failed listen (port taken).
//  - server.connections, the Set of connections not yet closing: the connection cap with eviction (smtp/stress.ts)
//    counts it, and the per-connection steering below needs the connection object of a session.
//  - server.connect(socket), called once per accepted socket, and the place smtp-server checks maxClients: the stress
//    guard makes room just before it, and the mx listener notes the peer of connections that never reach onConnect.
//  - server.server's 'connection' listener, smtp-server's socket acceptance: on an implicit-TLS listener the
//    per-address cap and the connection slots must count a socket from its accept, before its TLS handshake, which
//    smtp-server runs before any hook (gateAccepts).
//  - server._pendingSockets, the sockets accepted and not yet handed to connect() (a TLS handshake under way): they
//    hold slots too, and a silent one is closed at the handshake deadline or to make room (socketsBeforeSession).
//  - connection.id and connection.remoteAddress: known at connect, before the session object has them.
//  - connection.send(code, text, context), the one place every reply is written: our own replies at any time
//    (deadline, shutdown, eviction), and every reply of smtp-server seen (error counting, rewording).
//  - connection._getEnhancedStatusCode(code, context): smtp-server derives the RFC 3463 code from the reply code
//    alone; our replies carry their own.
//  - connection._onCommand(command, callback): every command line the client sends, before smtp-server handles it
//    (who owes the next move, for the stress policy), and handed on later for a DATA that waits for a place (pacing);
//    smtp-server reads no further line until its callback. Meanwhile connection._handlerPending, smtp-server's own
//    "a handler has not called back" flag, keeps its idle timeout from counting the wait against the client.
// The tests also hold public behaviours whose details Moat leans on: the 421 "You talk too soon" to a client that
// talks before the greeting, in session.error at onClose (mx PREGREET), and the DATA stream's byteLength growing as
// bytes arrive, before the final dot ends it (smtp/data-rate.ts).
import { createRequire } from 'node:module';
import { isIPv6, type AddressInfo, type Socket } from 'node:net';
import type { SMTPServer, SMTPServerSession } from 'smtp-server';
import { normalizeIPv6 } from 'smtp-server/lib/ipv6-normalize.js';

/** The smtp-server release this module was written and tested against; package.json pins exactly this one. */
export const SMTP_SERVER_VERSION = '3.21.6';

/** smtp-server's connection class, as its own type declarations describe it (not exported from the package root). */
type SMTPConnection = SMTPServer['connections'] extends Set<infer Connection> ? Connection : never;

declare const opaque: unique symbol;
/** One of smtp-server's connections; opaque outside this module, which alone reaches into it. */
export interface ConnectionHandle {
  readonly [opaque]: 'smtp-server connection';
}

/** What smtp-server tells `send` about a reply: the command it answers (e.g. 'AUTH'), or false for none (greeting, EHLO). */
export type ReplyContext = string | false | undefined;
/** A reply's text; several lines (EHLO) come as an array. */
export type ReplyText = string | string[] | null | undefined;

/** A reply on its way to the client. */
export interface OutgoingReply {
  code: number;
  text: ReplyText;
  context: ReplyContext;
}

/** Writes a reply as smtp-server would have; a 421 closes the connection. */
export type ReplyWriter = (code: number, text: ReplyText, context?: ReplyContext) => void;

const connectionOfHandle = (handle: ConnectionHandle): SMTPConnection => handle as unknown as SMTPConnection;
const handleOf = (connection: SMTPConnection): ConnectionHandle => connection as unknown as ConnectionHandle;

/** The version of smtp-server that Node resolves from here. */
export function installedSmtpServerVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('smtp-server/package.json') as { version: string }).version;
}

/** Throws unless `installed` (by default the installed smtp-server) is exactly SMTP_SERVER_VERSION. */
export function checkSmtpServerVersion(installed: string = installedSmtpServerVersion()): void {
  if (installed === SMTP_SERVER_VERSION) return;
  throw new Error(
    `smtp-server ${installed} is installed, but Moat reaches into smtp-server ${SMTP_SERVER_VERSION} only ` +
      `(src-relay/smtp/smtp-server-adapter.ts): install smtp-server@${SMTP_SERVER_VERSION}, or move SMTP_SERVER_VERSION ` +
      'and the package.json pin together once test/unit/smtp/smtp-server-adapter.test.ts passes with the new release',
  );
}

/** Starts listening; resolves with the address bound, rejects when the port cannot be had (e.g. EADDRINUSE). */
export function listen(server: SMTPServer, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, host, () => {
      server.server.off('error', reject);
      resolve(server.server.address() as AddressInfo);
    });
  });
}

/** The server's open connections (not closing), live: it grows and shrinks as clients come and go. */
export function openConnections(server: SMTPServer): ReadonlySet<ConnectionHandle> {
  return server.connections as ReadonlySet<SMTPConnection> as unknown as ReadonlySet<ConnectionHandle>;
}

/** The connection of a session, while it is open. */
export function connectionOf(server: SMTPServer, session: SMTPServerSession): ConnectionHandle | undefined {
  for (const connection of server.connections) if (connection.session === session) return handleOf(connection);
  return undefined;
}

/** The connection's id (its session's id) and client address, both known from the moment smtp-server took it on. */
export function peerOf(handle: ConnectionHandle): { id: string; remoteAddress: string } {
  const connection = connectionOfHandle(handle);
  return { id: connection.id, remoteAddress: connection.remoteAddress };
}

/** Sends a reply on the connection now, through any interceptor; a 421 closes it. */
export function sendReply(handle: ConnectionHandle, code: number, text: string): void {
  connectionOfHandle(handle).send(code, text);
}

/**
 * Every reply on the connection, smtp-server's own and those of `sendReply`, goes to `intercept` instead of the
 * wire; `write` sends one (the original or another) without passing through `intercept` again.
 */
export function interceptReplies(handle: ConnectionHandle, intercept: (reply: OutgoingReply, write: ReplyWriter) => void): void {
  const connection = connectionOfHandle(handle);
  const send = connection.send.bind(connection);
  const write: ReplyWriter = (code, text, context) => send(code, text, context);
  connection.send = (code, text, context) => intercept({ code, text, context }, write);
}

/**
 * `choose` picks the enhanced status code of each reply written on the connection, asked once per reply (context
 * false included: the greeting and EHLO, where smtp-server shows none); undefined keeps smtp-server's own choice.
 * Codes are shown only with hideENHANCEDSTATUSCODES off.
 */
export function chooseEnhancedCode(handle: ConnectionHandle, choose: (code: number, context: ReplyContext) => string | undefined): void {
  const connection = connectionOfHandle(handle);
  const derive = connection._getEnhancedStatusCode.bind(connection);
  connection._getEnhancedStatusCode = (code, context) => choose(code, context) || derive(code, context);
}

/** `heard` sees every command line the client sends, before smtp-server handles it (or refuses it). */
export function onEveryCommand(handle: ConnectionHandle, heard: (command: Buffer) => void): void {
  const connection = connectionOfHandle(handle);
  const onCommand = connection._onCommand.bind(connection);
  connection._onCommand = (command, callback) => {
    heard(command);
    onCommand(command, callback);
  };
}

/**
 * `gate` decides when smtp-server handles a command line: `proceed()` at once, or later (the client, waiting for its
 * reply, sends nothing more meanwhile; lines it pipelined wait in turn). Install before `onEveryCommand`, which then
 * still hears each line as it arrives.
 */
export function gateCommands(handle: ConnectionHandle, gate: (command: Buffer, proceed: () => void) => void): void {
  const connection = connectionOfHandle(handle) as SMTPConnection & { _handlerPending: boolean };
  const onCommand = connection._onCommand.bind(connection);
  connection._onCommand = (command, callback) => {
    let proceeded = false;
    gate(command, () => {
      proceeded = true;
      connection._handlerPending = false;
      onCommand(command, callback);
    });
    // held: the client waits for us, and smtp-server's idle timeout must not count that (as while a handler runs)
    if (!proceeded) connection._handlerPending = true;
  };
}

/** What to do around each socket that smtp-server takes on. */
export interface ConnectionWatch {
  /** Before smtp-server counts the new socket against maxClients: a connection closed here frees its slot in time. */
  before?: () => void;
  /** After: the new connection, or undefined when smtp-server refused it at once (over maxClients). */
  after?: (connection: ConnectionHandle | undefined) => void;
}

/** Runs `watch` around every socket the server takes on (plain at accept, implicit TLS after the handshake). */
export function watchConnections(server: SMTPServer, watch: ConnectionWatch): void {
  const connect = server.connect.bind(server);
  // the connection connect() adds, caught as it is added (not by comparing the whole set on every accept)
  let added: SMTPConnection | undefined;
  const add = server.connections.add.bind(server.connections);
  server.connections.add = (connection) => {
    added = connection;
    return add(connection);
  };
  server.connect = (socket, options) => {
    watch.before?.();
    if (!watch.after) return connect(socket, options);
    added = undefined;
    connect(socket, options);
    const connection = added && server.connections.has(added) ? added : undefined;
    added = undefined;
    watch.after(connection && handleOf(connection));
  };
}

/**
 * `admit` sees every socket the server accepts before smtp-server does (before an implicit TLS handshake); it calls
 * `accept()` to hand the socket on, now or later, or `refuse()` to close it at once with nothing written (nothing
 * can be, before the handshake; smtp-server drops a socket past maxClients the same way).
 */
export function gateAccepts(server: SMTPServer, admit: (socket: Socket, accept: () => void, refuse: () => void) => void): void {
  const net = server.server;
  const listeners = net.listeners('connection') as ((socket: Socket) => void)[];
  net.removeAllListeners('connection');
  net.on('connection', (socket: Socket) => {
    const accept = (): void => {
      // a socket closed while it waited would sit in smtp-server's pending list, its 'close' already gone by
      if (socket.destroyed) return;
      for (const listener of listeners) listener.call(net, socket);
    };
    const refuse = (): void => {
      socket.on('error', () => undefined);
      socket.destroy();
    };
    admit(socket, accept, refuse);
  });
}

/** The address smtp-server will give the socket's session (session.remoteAddress): IPv4 unmapped, IPv6 canonical. */
export function peerAddressOf(socket: Socket): string {
  const address = (socket.remoteAddress ?? '').trim().replace(/^::ffff:/i, '');
  return (isIPv6(address) ? normalizeIPv6(address) : address).toLowerCase();
}

/** How many accepted sockets are not yet sessions (an implicit TLS handshake under way); 0 without implicit TLS (useProxy is off). */
export function socketsBeforeSession(server: SMTPServer): number {
  return server._pendingSockets.size;
}

/** Whether an accepted socket has not reached its session yet. */
export function isBeforeSession(server: SMTPServer, socket: Socket): boolean {
  return server._pendingSockets.has(socket);
}

/** Closes an accepted socket that is not yet a session (with its TLS socket); false when it is a session by now, or gone. */
export function closeBeforeSession(server: SMTPServer, socket: Socket): boolean {
  const top = server._pendingSockets.get(socket);
  if (!top) return false;
  top.destroy();
  return true;
}
