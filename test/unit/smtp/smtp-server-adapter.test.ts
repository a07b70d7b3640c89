// One test per behaviour of smtp-server that smtp/smtp-server-adapter.ts relies on, each over a real SMTPServer on
// 127.0.0.1 port 0 driven by a raw socket: a release that changes one of them fails here, not in production.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import {
  SMTP_SERVER_VERSION,
  checkSmtpServerVersion,
  chooseEnhancedCode,
  closeBeforeSession,
  connectionOf,
  gateAccepts,
  gateCommands,
  installedSmtpServerVersion,
  interceptReplies,
  isBeforeSession,
  listen,
  onEveryCommand,
  openConnections,
  peerAddressOf,
  peerOf,
  sendReply,
  socketsBeforeSession,
  watchConnections,
  type ConnectionHandle,
  type OutgoingReply,
} from '../../../src-relay/smtp/smtp-server-adapter.ts';
import { RawSmtp } from '../../helpers/smtp.ts';
import { selfSignedCertificate } from '../../../src-relay/smtp/self-signed.ts';

interface TestServer {
  server: SMTPServer;
  port: number;
  /** Resolves with each session as smtp-server's onConnect hook gets it, in order. */
  nextConnect(): Promise<SMTPServerSession>;
  /** Resolves with each session as smtp-server's onClose hook gets it, in order. */
  nextClose(): Promise<SMTPServerSession>;
  stop(): Promise<void>;
}

/** A queue of hook calls that a test awaits one at a time. */
function hookQueue<T>(): { push(value: T): void; next(): Promise<T> } {
  const values: T[] = [];
  const waiting: ((value: T) => void)[] = [];
  return {
    push: (value) => (waiting.length ? waiting.shift()!(value) : values.push(value)),
    next: () => (values.length ? Promise.resolve(values.shift()!) : new Promise((resolve) => waiting.push(resolve))),
  };
}

/** A real SMTPServer as the listeners set it up (enhanced status codes on, no reverse DNS), on 127.0.0.1 port 0. */
async function startServer(options: Partial<SMTPServerOptions> = {}, prepare: (session: SMTPServerSession) => void = () => {}): Promise<TestServer> {
  const connects = hookQueue<SMTPServerSession>();
  const closes = hookQueue<SMTPServerSession>();
  const server = new SMTPServer({
    hideENHANCEDSTATUSCODES: false,
    disableReverseLookup: true,
    authOptional: true,
    logger: false,
    onConnect: (session, callback) => {
      prepare(session);
      connects.push(session);
      callback();
    },
    onClose: (session) => closes.push(session),
    ...options,
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    server,
    port: (server.server.address() as AddressInfo).port,
    nextConnect: connects.next,
    nextClose: closes.next,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Connects and waits for the greeting; returns the client and the connection smtp-server made for it. */
async function greeted(smtp: TestServer, from?: string): Promise<{ client: RawSmtp; session: SMTPServerSession; connection: ConnectionHandle }> {
  const client = await RawSmtp.connect(smtp.port, false, from);
  const session = await smtp.nextConnect();
  const connection = connectionOf(smtp.server, session);
  assert.ok(connection, 'onConnect’s session has a connection');
  assert.match(await client.reply(), /^220 /);
  return { client, session, connection };
}

test('the installed smtp-server is exactly SMTP_SERVER_VERSION, the version package.json pins without a range', () => {
  const pinned = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> }).dependencies['smtp-server'];
  assert.equal(pinned, SMTP_SERVER_VERSION);
  assert.equal(installedSmtpServerVersion(), SMTP_SERVER_VERSION);
  assert.doesNotThrow(() => checkSmtpServerVersion());
});

test('the start-up check refuses any other smtp-server release with an error naming both versions', () => {
  assert.throws(() => checkSmtpServerVersion('3.21.7'), (error: Error) => error.message.includes('smtp-server 3.21.7 is installed') && error.message.includes(`smtp-server@${SMTP_SERVER_VERSION}`));
  assert.throws(() => checkSmtpServerVersion('3.22.0'), /smtp-server 3\.22\.0 is installed/);
});

test('listen resolves with the address bound to port 0, and rejects with EADDRINUSE when the port is taken', async () => {
  const first = new SMTPServer({ logger: false, disableReverseLookup: true });
  const second = new SMTPServer({ logger: false, disableReverseLookup: true });
  second.on('error', () => {});
  try {
    const bound = await listen(first, '127.0.0.1', 0);
    assert.equal(bound.address, '127.0.0.1');
    assert.ok(bound.port > 0);
    await assert.rejects(listen(second, '127.0.0.1', bound.port), { code: 'EADDRINUSE' });
  } finally {
    await new Promise<void>((resolve) => first.close(() => resolve()));
  }
});

test('openConnections grows with each connected socket and shrinks as each one goes, a 421 taking it out at once', async () => {
  const smtp = await startServer();
  const open = openConnections(smtp.server);
  try {
    assert.equal(open.size, 0);
    const first = await greeted(smtp);
    const second = await greeted(smtp);
    assert.equal(open.size, 2);
    assert.ok(open.has(first.connection) && open.has(second.connection));

    first.client.close();
    await smtp.nextClose();
    assert.equal(open.size, 1);
    assert.ok(!open.has(first.connection));

    // the stress guard relies on this: a connection told 421 no longer holds its slot, before its socket has closed
    sendReply(second.connection, 421, 'closing');
    assert.equal(open.size, 0);
    assert.match(await second.client.reply(), /^421 4\.\d\.\d closing\r\n$/);
    await second.client.waitClosed();
  } finally {
    await smtp.stop();
  }
});

test('connectionOf finds the connection of the session onConnect gets, and peerOf gives its session id and client address', async () => {
  const smtp = await startServer();
  try {
    const { client, session, connection } = await greeted(smtp, '127.0.0.7');
    assert.deepEqual(peerOf(connection), { id: session.id, remoteAddress: '127.0.0.7' });
    // the session is one object for the whole connection: the listener keeps it and reads its envelope later
    const mail = hookQueue<SMTPServerSession>();
    smtp.server.onMailFrom = (_address, mailSession, callback) => {
      mail.push(mailSession);
      callback();
    };
    await client.command('EHLO client.test');
    assert.match(await client.command('MAIL FROM:<a@sender.test>'), /^250 /);
    assert.equal(await mail.next(), session);
    assert.equal(session.envelope.mailFrom && session.envelope.mailFrom.address, 'a@sender.test');
    await client.command('RSET');
    assert.equal(session.envelope.mailFrom, false);
    client.close();
    assert.equal(await smtp.nextClose(), session);
    assert.equal(connectionOf(smtp.server, session), undefined);
  } finally {
    await smtp.stop();
  }
});

test('a reply sent with sendReply reaches the client with the enhanced code chooseEnhancedCode picks, asked once per reply', async () => {
  const smtp = await startServer();
  try {
    const { client, connection } = await greeted(smtp);
    const asked: OutgoingReply['context'][] = [];
    let chosen: string | undefined = '4.7.9';
    chooseEnhancedCode(connection, (_code, context) => {
      asked.push(context);
      const pick = chosen;
      chosen = undefined;
      return pick;
    });
    sendReply(connection, 450, 'not now');
    assert.equal(await client.reply(), '450 4.7.9 not now\r\n');
    assert.deepEqual(asked, [undefined]);
    // undefined keeps smtp-server's own code for the reply; a command refused by smtp-server asks too
    assert.match(await client.command('FOO'), /^500 5\.5\.[12] /);
    assert.deepEqual(asked, [undefined, 'FOO']);
    // EHLO replies are asked with context false, and show smtp-server's (absent) code when the chooser gives none
    assert.match(await client.command('EHLO client.test'), /^250-\S+ Nice to meet you/);
    assert.equal(asked.at(-1), false);
    client.close();
  } finally {
    await smtp.stop();
  }
});

test('interceptReplies gets every reply, smtp-server’s own with the command it answers; its writer reaches the client as given', async () => {
  // how the submission listener hides AUTH before STARTTLS (public: session.disabledCommands)
  const smtp = await startServer({}, (session) => (session.disabledCommands = ['AUTH']));
  try {
    const { client, connection } = await greeted(smtp);
    const seen: OutgoingReply[] = [];
    interceptReplies(connection, (reply, write) => {
      seen.push(reply);
      // the submission listener's rewording: AUTH refused as unknown becomes "STARTTLS first"
      if (reply.code === 500 && reply.context === 'AUTH') return write(530, 'Must issue a STARTTLS command first', reply.context);
      write(reply.code, reply.text, reply.context);
    });
    assert.match(await client.command('EHLO client.test'), /^250-/);
    assert.equal(await client.command('AUTH PLAIN AGFsaWNlAHNlY3JldA=='), '530 5.7.0 Must issue a STARTTLS command first\r\n');
    sendReply(connection, 451, 'ours');
    assert.equal(await client.reply(), '451 4.3.0 ours\r\n');
    assert.deepEqual(
      seen.map(({ code, context }) => [code, context]),
      [[250, false], [500, 'AUTH'], [451, undefined]],
    );
    assert.ok(Array.isArray(seen[0]!.text), 'EHLO comes as several lines');
    // a 421 through the writer closes the connection, as the too-many-errors reply needs
    interceptReplies(connection, (_reply, write) => write(421, 'Too many errors'));
    assert.match(await client.command('NOOP'), /^421 4\.\d\.\d Too many errors\r\n$/);
    await client.waitClosed();
  } finally {
    await smtp.stop();
  }
});

test('onEveryCommand sees every command line before smtp-server handles it, those it refuses included', async () => {
  const smtp = await startServer();
  try {
    const { client, connection } = await greeted(smtp);
    const order: string[] = [];
    onEveryCommand(connection, (command) => order.push(`heard ${command.toString()}`));
    interceptReplies(connection, (reply, write) => {
      order.push(`answered ${reply.code}`);
      write(reply.code, reply.text, reply.context);
    });
    await client.command('EHLO client.test');
    await client.command('NOOP');
    await client.command('FOO bar');
    await client.command('MAIL FROM:<a@sender.test>');
    assert.deepEqual(order, [
      'heard EHLO client.test', 'answered 250',
      'heard NOOP', 'answered 250',
      'heard FOO bar', 'answered 500',
      'heard MAIL FROM:<a@sender.test>', 'answered 250',
    ]);
    client.close();
  } finally {
    await smtp.stop();
  }
});

test('gateCommands holds a command until proceed; lines pipelined behind it wait their turn, and onEveryCommand still hears each as it comes', async () => {
  const smtp = await startServer();
  try {
    const { client, connection } = await greeted(smtp);
    const heard: string[] = [];
    let release: (() => void) | undefined;
    gateCommands(connection, (command, proceed) => (command.toString() === 'NOOP' ? (release = proceed) : proceed()));
    onEveryCommand(connection, (command) => heard.push(command.toString()));
    assert.match(await client.command('EHLO client.test'), /^250/);
    client.write('NOOP\r\nRSET\r\n');
    await assert.rejects(client.reply(300), /no reply within/, 'the held NOOP is not answered');
    assert.deepEqual(heard, ['EHLO client.test', 'NOOP'], 'the line behind it is not read yet');
    release!();
    assert.match(await client.reply(), /^250 /);
    assert.match(await client.reply(), /^250 /);
    assert.deepEqual(heard, ['EHLO client.test', 'NOOP', 'RSET']);
    client.close();
  } finally {
    await smtp.stop();
  }
});

test('a command gateCommands holds is the server’s move: smtp-server’s idle timeout does not close the connection meanwhile', async () => {
  const smtp = await startServer({ socketTimeout: 200 });
  try {
    const { client, connection } = await greeted(smtp);
    let release: (() => void) | undefined;
    gateCommands(connection, (command, proceed) => (command.toString() === 'NOOP' ? (release = proceed) : proceed()));
    client.write('NOOP\r\n');
    await assert.rejects(client.reply(800), /no reply within/, 'no 421 Timeout while held, four idle timeouts long');
    release!();
    assert.match(await client.reply(), /^250 /);
    assert.match(await client.reply(1_000), /^421 /, 'the client owes the next move again, and the idle timeout counts it');
    client.close();
  } finally {
    await smtp.stop();
  }
});

test('watchConnections runs before smtp-server’s maxClients check: a connection closed there frees the slot for the newcomer', async () => {
  const smtp = await startServer({ maxClients: 1 });
  const open = openConnections(smtp.server);
  let evict = true;
  const added: (ConnectionHandle | undefined)[] = [];
  watchConnections(smtp.server, {
    before: () => {
      const [oldest] = open;
      if (evict && oldest) sendReply(oldest, 421, 'Idle too long under load');
    },
    after: (connection) => added.push(connection),
  });
  try {
    const first = await greeted(smtp, '127.0.0.11');
    const second = await greeted(smtp, '127.0.0.12');
    assert.match(await first.client.reply(), /^421 4\.\d\.\d Idle too long under load\r\n$/);
    assert.deepEqual(added, [first.connection, second.connection]);
    assert.equal(peerOf(added[1]!).remoteAddress, '127.0.0.12');
    // without room made, smtp-server refuses the newcomer itself and after() gets no connection
    evict = false;
    const third = await RawSmtp.connect(smtp.port, false, '127.0.0.13');
    assert.match(await third.reply(), /^421 .*Too many connected clients/);
    assert.equal(added.length, 3);
    assert.equal(added[2], undefined);
    assert.deepEqual([...open], [second.connection]);
    third.close();
    second.client.close();
  } finally {
    await smtp.stop();
  }
});

/** A TCP connection that sends nothing; `closed` resolves when the server closes it. */
async function silentSocket(port: number, from?: string): Promise<{ socket: Socket; closed: Promise<void>; isClosed: () => boolean }> {
  const socket = connect({ port, host: '127.0.0.1', localAddress: from });
  socket.on('error', () => {});
  let isClosed = false;
  const closed = once(socket, 'close').then(() => {
    isClosed = true;
  });
  await once(socket, 'connect');
  return { socket, closed, isClosed: () => isClosed };
}

test('gateAccepts sees each accepted socket before smtp-server: refuse() closes it with nothing written, accept() hands it on, also later', async () => {
  const smtp = await startServer();
  const seen: string[] = [];
  let verdict: 'accept' | 'refuse' | 'later' = 'refuse';
  let later: (() => void) | undefined;
  gateAccepts(smtp.server, (socket, accept, refuse) => {
    seen.push(peerAddressOf(socket));
    if (verdict === 'accept') accept();
    else if (verdict === 'refuse') refuse();
    else later = accept;
  });
  try {
    const refused = await silentSocket(smtp.port, '127.0.0.21');
    const received: Buffer[] = [];
    refused.socket.on('data', (chunk: Buffer) => received.push(chunk));
    await refused.closed;
    assert.equal(Buffer.concat(received).length, 0, 'no greeting, no 421: nothing');
    assert.equal(openConnections(smtp.server).size, 0);

    verdict = 'accept';
    const { client, session } = await greeted(smtp, '127.0.0.22');
    assert.deepEqual(seen, ['127.0.0.21', '127.0.0.22']);
    assert.equal(session.remoteAddress, seen[1], 'peerAddressOf gives the address the session gets');

    verdict = 'later';
    const waiting = await RawSmtp.connect(smtp.port, false, '127.0.0.23');
    await until(() => later !== undefined);
    later!();
    assert.match(await waiting.reply(), /^220 /, 'handed on later, the socket gets its session');
    waiting.close();
    client.close();
  } finally {
    await smtp.stop();
  }
});

test('socketsBeforeSession counts sockets in their implicit TLS handshake, isBeforeSession tells them apart, and closeBeforeSession closes one but never a session', async () => {
  const pems = await selfSignedCertificate('adapter.test', new Date(Date.now() + 86_400_000));
  const smtp = await startServer({ secure: true, key: pems.key, cert: pems.cert });
  const accepted: Socket[] = [];
  gateAccepts(smtp.server, (socket, accept) => {
    accepted.push(socket);
    accept();
  });
  try {
    const silent = await silentSocket(smtp.port, '127.0.0.31');
    const tls = await RawSmtp.connect(smtp.port, true, '127.0.0.32');
    assert.match(await tls.reply(), /^220 /);
    assert.equal(accepted.length, 2);
    const [silentOnServer, sessionOnServer] = accepted as [Socket, Socket];
    assert.equal(socketsBeforeSession(smtp.server), 1, 'the silent socket, not the session');
    assert.ok(isBeforeSession(smtp.server, silentOnServer));
    assert.ok(!isBeforeSession(smtp.server, sessionOnServer));

    assert.equal(closeBeforeSession(smtp.server, sessionOnServer), false, 'a session is not closed');
    assert.match(await tls.command('NOOP'), /^250 /);
    assert.equal(closeBeforeSession(smtp.server, silentOnServer), true);
    await silent.closed;
    assert.equal(socketsBeforeSession(smtp.server), 0);
    assert.equal(closeBeforeSession(smtp.server, silentOnServer), false, 'gone');
    tls.close();
  } finally {
    await smtp.stop();
  }
});

/** Polls a condition the server reaches on its own. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('a client that talks before the greeting gets 421 "You talk too soon", and onClose sees it in session.error under the peer’s id', async () => {
  const heldBack = hookQueue<SMTPServerSession>();
  const smtp = await startServer({
    // the greeting waits for onConnect's callback, as the mx listener's greeting delay does: never called here
    onConnect: (session) => heldBack.push(session),
  });
  const peers = new Map<string, string>();
  watchConnections(smtp.server, {
    after: (connection) => {
      if (connection) peers.set(peerOf(connection).id, peerOf(connection).remoteAddress);
    },
  });
  try {
    // within smtp-server's first 100 ms, before any hook ran
    const early = await RawSmtp.connect(smtp.port, false, '127.0.0.21');
    early.write('EHLO early.test\r\n');
    assert.match(await early.reply(), /^421 .* You talk too soon\r\n$/);
    const closed = await smtp.nextClose();
    assert.match(closed.error ?? '', / You talk too soon$/);
    assert.equal(peers.get(closed.id), '127.0.0.21');
    assert.equal(closed.remoteAddress, undefined, 'the session never got its address: only the peer noted at connect has it');

    // while onConnect holds the greeting back
    const waiting = await RawSmtp.connect(smtp.port, false, '127.0.0.22');
    const session = await heldBack.next();
    waiting.write('EHLO waiting.test\r\n');
    assert.match(await waiting.reply(), /^421 .* You talk too soon\r\n$/);
    const held = await smtp.nextClose();
    assert.equal(held, session);
    assert.match(held.error ?? '', / You talk too soon$/);
    assert.equal(peers.get(held.id), '127.0.0.22');
  } finally {
    await smtp.stop();
  }
});

test('the DATA stream counts message bytes in byteLength as they arrive, and is ended only by the final dot', async () => {
  const streams = hookQueue<SMTPServerDataStream>();
  const smtp = await startServer({
    onData: (stream, _session, callback) => {
      streams.push(stream);
      stream.on('end', () => callback(null, 'queued'));
      stream.resume();
    },
  });
  try {
    const { client } = await greeted(smtp);
    await client.command('EHLO client.test');
    await client.command('MAIL FROM:<a@sender.test>');
    await client.command('RCPT TO:<b@example.test>');
    assert.match(await client.command('DATA'), /^354 /);
    const stream = await streams.next();
    const chunk = `Subject: slow\r\n\r\n${'x'.repeat(998)}\r\n`;
    client.write(chunk);
    // the parser holds back the last few bytes until it knows they do not start the final dot
    while (stream.byteLength < chunk.length - '\r\n.\r\n'.length) await new Promise((resolve) => stream.once('data', resolve));
    assert.ok(stream.byteLength <= chunk.length);
    assert.equal(stream.writableEnded, false, 'no final dot yet: the client still owes us bytes');
    client.write('.\r\n');
    assert.match(await client.reply(), /^250 /);
    assert.equal(stream.writableEnded, true);
    assert.equal(stream.byteLength, chunk.length);
    client.close();
  } finally {
    await smtp.stop();
  }
});
