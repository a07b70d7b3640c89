import { useState } from 'react';
import type { Input, Output } from '../../src-relay/admin/contract.ts';
import { call } from '../api/client.ts';
import { useAction, useCall, useLiveReload, useNow } from '../api/hooks.ts';
import { formatCount } from '../lib/format.ts';
import { destinationReport } from '../lib/words.ts';
import { DESTINATION_STATE, destinationName } from '../lib/views.ts';
import { QueueViewTabs } from './QueueViewTabs.tsx';
import { Badge, Empty, ErrorMessage, Loading, PageHeader, StatusLine, Time } from './ui.tsx';
import { PlainError } from './PlainError.tsx';

type Destination = Output<'queue.destinations'>['destinations'][number];
type DestinationAction = Input<'queue.actOnDestination'>['action'];

/** How often the view reloads at most while mail comes and goes: every 2 s, every 10 s for a queue past BIG_QUEUE messages. */
const DESTINATIONS_RELOAD_MS = 2_000;
const BIG_QUEUE_RELOAD_MS = 10_000;
const BIG_QUEUE = 10_000;
/** Live events that change the destinations. */
const QUEUE_EVENTS = ['queue', 'received', 'delivered', 'deferred', 'bounced', 'relay'] as const;

/**
 * The queue by destination: the internal server, and each domain mail goes out to, with how much waits there, whether
 * its server answers, the last error and the next try; retry now, hold or release everything for one destination.
 */
export function DestinationsView() {
  const list = useCall('queue.destinations', {});
  const action = useAction();
  const [report, setReport] = useState('');
  const now = useNow(30_000);
  // grouping a queue of 100,000 takes a good part of a second: a big queue refreshes this view every 10 s at most
  const waiting = (list.data?.destinations ?? []).reduce((sum, row) => sum + row.messages, 0);
  const expectNews = useLiveReload(QUEUE_EVENTS, () => void list.reload(), waiting > BIG_QUEUE ? BIG_QUEUE_RELOAD_MS : DESTINATIONS_RELOAD_MS);

  const act = async (act: DestinationAction, destination: Destination) => {
    const result = await action.run(() => call('queue.actOnDestination', { action: act, route: destination.route, domain: destination.domain }));
    if (!result) return;
    const name = destinationName(destination);
    setReport(destinationReport(act, name, result.done.length, list.data?.queueHeld === true));
    // what the retry did comes as events: the first of them is shown at once
    expectNews();
    void list.reload();
  };

  const rows = list.data?.destinations ?? [];
  return (
    <div className="destinations">
      <PageHeader title="Queue" />
      <QueueViewTabs view="destinations" />
      {list.data?.queueHeld ? (
        <div className="banner tone-warning" role="status">
          Delivery is paused for the whole queue: resume it on the Messages view.
        </div>
      ) : null}
      {action.error ? <ErrorMessage error={action.error} /> : null}
      {report ? <StatusLine>{report}</StatusLine> : null}
      {list.error && !list.data ? <ErrorMessage error={list.error} onRetry={() => void list.reload()} /> : null}
      {!list.data && list.loading ? <Loading label="Loading the destinations…" /> : null}
      {list.data && rows.length === 0 ? <Empty>Nothing is waiting: every message has been delivered.</Empty> : null}
      {rows.length > 0 ? (
        <div className="table-wrap">
          <table className="data-table">
            <caption className="visually-hidden">Where the waiting mail goes</caption>
            <thead>
              <tr>
                <th scope="col">Destination</th>
                <th scope="col" className="num">
                  Messages
                </th>
                <th scope="col" className="num">
                  Recipients
                </th>
                <th scope="col">State</th>
                <th scope="col" className="wide">
                  Last error
                </th>
                <th scope="col" className="nowrap">
                  Next try
                </th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => {
                const name = destinationName(row);
                const state = DESTINATION_STATE[row.state];
                return (
                  <tr key={`${row.route} ${row.domain ?? ''}`} aria-label={`Destination ${name}`}>
                    <th scope="row" className="addr">
                      {name}
                      {row.route === 'outbound' ? <span className="muted small"> (Internet)</span> : null}
                    </th>
                    <td className="num">{formatCount(row.messages)}</td>
                    <td className="num">{formatCount(row.recipients)}</td>
                    <td>
                      <Badge tone={state.tone}>{state.label}</Badge>
                      {(row.state === 'down' || row.state === 'refusing') && row.downSince ? (
                        <span className="muted small">
                          {' '}
                          no mail taken since <Time ms={row.downSince} seconds />
                        </span>
                      ) : null}
                      {row.held > 0 && row.state !== 'held' ? <span className="muted small"> · {formatCount(row.held)} held on {row.held === 1 ? 'its' : 'their'} own</span> : null}
                    </td>
                    <td className="wide">{row.lastError ? <PlainError raw={row.lastError} compact /> : <span className="muted">—</span>}</td>
                    <td className="nowrap">{row.state === 'held' || row.state === 'paused' ? <span className="muted">{row.state}</span> : <Time ms={row.nextAttemptAt} relative now={now} />}</td>
                    <td className="row-actions">
                      <button type="button" onClick={() => void act('retry', row)} disabled={action.busy} aria-label={`Retry destination ${name}`}>
                        Retry now
                      </button>
                      {row.held === row.messages ? (
                        <button type="button" onClick={() => void act('release', row)} disabled={action.busy} aria-label={`Release destination ${name}`}>
                          Release
                        </button>
                      ) : (
                        <button type="button" onClick={() => void act('hold', row)} disabled={action.busy} aria-label={`Hold destination ${name}`}>
                          Hold
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
      {list.data?.truncated ? <p className="muted">Only the {formatCount(rows.length)} largest destinations are listed.</p> : null}
      <p className="muted small">
        Hold and release act on whole messages: a message that also waits for another destination is held there too.
      </p>
    </div>
  );
}
