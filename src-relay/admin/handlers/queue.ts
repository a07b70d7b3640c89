import type { z } from 'zod';
import { ApiError } from '../errors.ts';
import type { Handlers } from './types.ts';
import { queueContract, type decisionSchema, type destinationSchema, type messageDetailSchema, type trackingOutcome } from '../../queue/contract.ts';
import type { Queue } from '../../queue/queue.ts';
import { arrivedAt, filterVerdictText, historyText, messageHistory } from '../../queue/history-text.ts';
import { parseDecision, type Decision } from '../../filters/policy.ts';
import { MAX_DESTINATIONS, type DestinationRow, type MessageRow, type RecipientRow, type RefusalRow, type TrackedMessageRow, type TrackedRecipient } from '../../store/queue-store.ts';
import { decodeHeaderText, displayText, senderName } from '../../util/header-text.ts';
import { PreviewUnreadable } from '../../quarantine/previews.ts';
import { safePreview } from '../../quarantine/safe-preview.ts';
import type { RouteState } from '../../events.ts';
import type { Config } from '../../config/schema.ts';
import { DOWNLOAD_PATH } from '../downloads.ts';
import { queueDeadlines } from '../../queue/deadlines.ts';

type Outcome = z.infer<typeof trackingOutcome>;
type TrackingRow = z.input<(typeof queueContract)['tracking.search']['output']>['rows'][number];
type Destination = z.input<typeof destinationSchema>;

/** The queue viewer, the queue's admin operations and message tracking (contract: src-relay/queue/contract.ts). */
export const queueHandlers = {
  'queue.summary': (_input, context) => summary(context.relay().queue),

  'queue.list': (input, context) => context.relay().queue.page(input),

  'queue.show': (input, context) => {
    const detail = messageDetail(context.relay().queue, input.id, context.config().queue);
    if (!detail) throw new ApiError('QUEUE_ITEM_GONE');
    return detail;
  },

  'queue.act': async ({ action, ids }, context) => {
    const { queue } = context.relay();
    const done: string[] = [];
    const unchanged: string[] = [];
    const gone: string[] = [];
    const unique = [...new Set(ids)];
    if (action === 'bounce') {
      // each bounce writes a DSN through the group commit: one after the other
      for (const id of unique) ((await queue.bounce(id, context.actor)) ? done : gone).push(id);
    } else {
      // only queued messages: a quarantined one is the quarantine's business
      const queued = unique.filter((id) => queue.store.statusOf(id) === 'queued');
      // the selection in one transaction (one commit, not one per message)
      const results = action === 'delete' ? (await queue.deleteMany(queued, context.actor)).map((ok) => (ok ? 'changed' : null)) : queue.actOn(action, queued, context.actor);
      const outcome = new Map(queued.map((id, index) => [id, results[index]]));
      for (const id of unique) {
        const result = outcome.get(id);
        (result === 'changed' ? done : result === 'unchanged' ? unchanged : gone).push(id);
      }
    }
    context.logger.info({ action, by: context.actor, done: done.length, unchanged: unchanged.length, gone: gone.length }, 'ADMIN_QUEUE_ACTION');
    return { done, unchanged, gone };
  },

  'queue.destinations': (_input, context) => {
    const relay = context.relay();
    const queueHeld = relay.queue.isQueueHeld();
    const routes = new Map(relay.routeStates().map((state) => [state.route, state]));
    const rows = relay.queue.destinations();
    return {
      destinations: rows.map((row) => destination(row, routes.get(routeKeyOf(row, context.config())), queueHeld)),
      queueHeld,
      truncated: rows.length >= MAX_DESTINATIONS,
    };
  },

  'queue.actOnDestination': (input, context) => {
    const done = context.relay().queue.actOnDestination(input.action, { route: input.route, domain: input.domain }, context.actor);
    context.logger.info({ action: input.action, route: input.route, domain: input.domain ?? undefined, by: context.actor, messages: done.length }, 'ADMIN_DESTINATION_ACTION');
    return { done };
  },

  'queue.body': async (input, context) => {
    const { queue, quarantine } = context.relay();
    const status = queue.store.statusOf(input.id);
    if (!status) throw new ApiError('MESSAGE_NOT_FOUND');
    if (status !== 'queued' && status !== 'quarantined') throw new ApiError('MESSAGE_FILE_GONE');
    const preview = await quarantine
      .filePreview(input.id)
      // finished (delivered, deleted) between the look-up and the read of its file
      .catch(previewProblem);
    if (!preview) throw new ApiError('MESSAGE_FILE_GONE');
    context.logger.info({ id: input.id, by: context.actor }, 'ADMIN_MESSAGE_VIEWED');
    return { ...safePreview(preview), truncated: preview.truncated };
  },

  'queue.download': (input, context) => {
    const { queue } = context.relay();
    const status = queue.store.statusOf(input.id);
    if (!status) throw new ApiError('MESSAGE_NOT_FOUND');
    if ((status !== 'queued' && status !== 'quarantined') || queue.spool.size(input.id) === null) throw new ApiError('MESSAGE_FILE_GONE');
    const grant = context.downloads.mint(input.id);
    if (!grant) throw new ApiError('TOO_MANY_DOWNLOADS');
    // relative, like every URL of the UI (it is served under any prefix, and as app://moat/ in the desktop shell)
    return { url: DOWNLOAD_PATH.replace(/^\//, '').replace(':token', grant.token), expiresAt: grant.expiresAt };
  },

  'queue.retryAll': (_input, context) => {
    const count = context.relay().queue.retryAll(context.actor);
    context.logger.info({ by: context.actor, recipients: count }, 'ADMIN_RETRY_ALL');
    return { count };
  },

  'queue.holdAll': (_input, context) => {
    const { queue } = context.relay();
    queue.holdAll(context.actor);
    context.logger.info({ by: context.actor }, 'ADMIN_QUEUE_HELD');
    return summary(queue);
  },

  'queue.releaseAll': (_input, context) => {
    const { queue } = context.relay();
    const released = queue.releaseAll(context.actor);
    context.logger.info({ by: context.actor, held: released }, 'ADMIN_QUEUE_RELEASED');
    return summary(queue);
  },

  'queue.resume': (_input, context) => {
    const { queue } = context.relay();
    const stillHeld = queue.resume(context.actor);
    context.logger.info({ by: context.actor, held: stillHeld }, 'ADMIN_QUEUE_RESUMED');
    return summary(queue);
  },

  'tracking.search': (input, context) => {
    const { queue } = context.relay();
    const filter = {
      sender: input.sender,
      recipient: input.recipient,
      messageId: input.messageId,
      clientIp: input.clientIp,
      subject: input.subject,
      outcome: input.outcome,
      from: input.from,
      to: input.to,
      limit: input.limit + 1,
    };
    const found = queue.track(filter);
    const rows = [...found.messages.map(trackedMessage), ...found.refusals.map(trackedRefusal)].sort((a, b) => b.at - a.at);
    return { rows: rows.slice(0, input.limit), truncated: rows.length > input.limit };
  },

  'tracking.trace': (input, context) => {
    const detail = messageDetail(context.relay().queue, input.id, context.config().queue);
    if (!detail) throw new ApiError('MESSAGE_NOT_FOUND');
    return detail;
  },
} satisfies Handlers<typeof queueContract>;

/** A preview that cannot be made: null when the file is gone (finished meanwhile), an API error when it is unreadable. */
export function previewProblem(error: Error): null {
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
  if (error instanceof PreviewUnreadable) throw new ApiError('PREVIEW_UNREADABLE', `${error.message}: try again, or download it and open it in a text editor`);
  throw error;
}

/** The scheduler's key of a destination's route (queue/delivery.ts `routeKey`): how its up/down state is found. */
function routeKeyOf(row: Pick<DestinationRow, 'route' | 'domain'>, config: Config): string {
  if (row.route === 'internal') return 'internal';
  return config.outbound.smarthost ? 'smarthost' : `mx:${row.domain ?? ''}`;
}

function destination(row: DestinationRow, routeState: RouteState | undefined, queueHeld: boolean): Destination {
  const trouble = routeState?.state === 'down' || routeState?.state === 'refusing' ? routeState.state : null;
  const route = trouble ? routeState! : null;
  const state = queueHeld ? 'paused' : row.held === row.messages ? 'held' : (trouble ?? (row.attempts > 0 ? 'deferred' : 'waiting'));
  // the route's error is newer when the server went down (or began refusing) after the last reply a recipient got
  const routeError = route?.lastError && (row.lastReplyAt === null || route.since >= row.lastReplyAt) ? route.lastError : null;
  return {
    route: row.route,
    domain: row.domain,
    messages: row.messages,
    recipients: row.recipients,
    held: row.held,
    state,
    downSince: route?.since ?? null,
    attempts: row.attempts,
    nextAttemptAt: row.nextAttemptAt,
    lastError: routeError || row.lastReply || route?.lastError || null,
    lastErrorAt: routeError && route ? route.since : row.lastReplyAt,
  };
}

function summary(queue: Queue) {
  return { ...queue.store.summary(), queueHeld: queue.isQueueHeld() };
}

/** The message as the detail pane and message tracking show it; null when no message has that id. */
export function messageDetail(queue: Queue, id: string, limits: Pick<Config['queue'], 'lifetimeHours' | 'delayWarningHours'>): z.input<typeof messageDetailSchema> | null {
  const message = queue.store.message(id);
  if (!message) return null;
  queue.flushHistory();
  const recipients = queue.store.recipients(id);
  const history = queue.store.history(id);
  const decision = parseDecision(message.decision);
  return {
    id: message.id,
    receivedAt: arrivedAt(message, history),
    clientIp: message.client_ip,
    helo: message.helo,
    sender: message.sender,
    subject: decodeHeaderText(message.subject),
    senderName: senderName({ fromName: message.from_name, sender: message.sender, clientIp: message.client_ip, kind: message.kind }),
    headerMessageId: message.header_message_id,
    size: message.size,
    kind: message.kind,
    status: message.status,
    held: message.held === 1,
    recipients: recipients.map((recipient) => ({
      address: recipient.address,
      route: recipient.route,
      status: recipient.status,
      attempts: recipient.attempts,
      nextAttemptAt: recipient.status === 'pending' && message.status === 'queued' ? recipient.next_attempt_at : null,
      lastReply: recipient.last_reply,
      lastStatus: recipient.last_status,
    })),
    decision: decision && contractDecision(decision),
    history: messageHistory(message, recipients, history, decision),
    retrying: message.status === 'queued' && recipients.some((recipient) => recipient.status === 'pending') ? retrying(message, limits) : null,
  };
}

/** When a waiting message is given up, and when its sender hears it is delayed (queue/scheduler.ts decides both). */
function retrying(message: MessageRow, limits: Pick<Config['queue'], 'lifetimeHours' | 'delayWarningHours'>) {
  const { givesUpAt, warnsSenderAt } = queueDeadlines({ lifetimeFrom: message.lifetime_from ?? message.received_at, kind: message.kind, sender: message.sender }, limits);
  const warned = Boolean(message.delay_warned);
  return { givesUpAt, lifetimeHours: limits.lifetimeHours, warnsSenderAt: warned ? null : warnsSenderAt, senderWarned: warned && warnsSenderAt !== null };
}

/** The decision trace in the contract's shape. */
export function contractDecision(decision: Decision): z.input<typeof decisionSchema> {
  return {
    action: decision.action,
    score: decision.score,
    cause: decision.cause,
    reason: decision.reason,
    senderList: decision.senderList,
    filters: decision.results.map((result) => ({
      name: result.filter,
      verdict: result.verdict,
      said: filterVerdictText(result),
      score: result.score,
      reasons: result.reasons,
      ms: result.ms,
      failed: result.failed ?? null,
    })),
  };
}

function trackedMessage(message: TrackedMessageRow & { recipients: TrackedRecipient[] }): TrackingRow {
  return {
    id: message.id,
    at: message.received_at,
    sender: message.sender,
    recipients: message.recipients.map((recipient) => recipient.address),
    subject: decodeHeaderText(message.subject),
    senderName: senderName({ fromName: message.from_name, sender: message.sender, clientIp: message.client_ip, kind: message.kind }),
    headerMessageId: message.header_message_id,
    outcome: outcomeOf(message),
    recipientOutcomes:
      message.status === 'queued' || message.status === 'done' ? message.recipients.map((recipient) => ({ address: recipient.address, outcome: recipientOutcomeOf(message, recipient) })) : [],
    detail: null,
  };
}

/** One recipient's outcome within a queued or finished message. */
function recipientOutcomeOf(message: Pick<TrackedMessageRow, 'held'>, recipient: TrackedRecipient): Outcome {
  // deleted: dropped for that recipient alone (a sender they blocked for themselves), the rest went on
  if (recipient.status === 'delivered' || recipient.status === 'bounced' || recipient.status === 'deleted') return recipient.status;
  return message.held ? 'held' : recipient.attempts > 0 ? 'deferred' : 'queued';
}

function outcomeOf(message: Pick<TrackedMessageRow, 'status' | 'held' | 'queue_attempts'> & { recipients: Pick<RecipientRow, 'status'>[] }): Outcome {
  switch (message.status) {
    case 'queued':
      return message.held ? 'held' : message.queue_attempts > 0 ? 'deferred' : 'queued';
    case 'done': {
      const delivered = message.recipients.some((recipient) => recipient.status === 'delivered');
      const bounced = message.recipients.some((recipient) => recipient.status === 'bounced');
      return delivered && bounced ? 'partial' : bounced ? 'bounced' : 'delivered';
    }
    default:
      return message.status;
  }
}

function trackedRefusal(row: RefusalRow): TrackingRow {
  return {
    // the id a rejected message would have had names nothing that can be shown: no row, no file
    id: null,
    at: row.at,
    // as the client sent them, refused: shown without controls or direction overrides (U+202E would reverse the column)
    sender: displayText(row.sender ?? ''),
    recipients: row.recipient ? row.recipient.split(', ').map(displayText) : [],
    subject: null,
    senderName: null,
    headerMessageId: null,
    outcome: 'refused',
    recipientOutcomes: [],
    detail: `${historyText(row)}${row.client_ip ? ` — client ${row.client_ip}` : ''}`,
  };
}
