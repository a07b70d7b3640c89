import { useEffect, useState } from 'react';
import type { Output } from '../../src-relay/admin/contract.ts';
import { useAction, useCall, useEvent, useLiveReload, useNow, type CallState } from '../api/hooks.ts';
import { call } from '../api/client.ts';
import { LineChart } from '../components/Chart.tsx';
import { Badge, Empty, ErrorMessage, Loading, PageHeader, Time } from '../components/ui.tsx';
import { DiskUseCard } from '../components/DiskUse.tsx';
import { groupAlerts, type Alert } from '../lib/alerts.ts';
import { formatCount, formatDuration } from '../lib/format.ts';
import { RELAY_STATE } from '../lib/words.ts';
import { liveWarnings, lockedAccountWarnings, type LiveWarning } from '../lib/health.ts';
import { PlainError } from '../components/PlainError.tsx';

type RelayStatus = Output<'relay.status'>;
type QueueSummary = Output<'queue.summary'>;

// 'queue': a release request or its answer changes the quarantine's figures
const TRAFFIC_EVENTS = ['received', 'delivered', 'bounced', 'quarantined', 'deferred', 'queue'] as const;

const ROUTE_NAMES: Record<string, string> = { internal: 'Internal server', smarthost: 'Smarthost (outgoing mail)' };

/** Relay and routes, the queue at a glance, today's figures, the charts, and the open alerts with their hints. */
export function Dashboard({ relay, unanswered, summary, openAlerts }: { relay: CallState<RelayStatus>; unanswered: boolean; summary: CallState<QueueSummary>; openAlerts: Alert[] }) {
  const now = useNow(15_000);
  const figures = useCall('dashboard.get', {});
  const [range, setRange] = useState<'24h' | '7d'>('24h');
  const series = useCall('metrics.series', { range });
  useLiveReload(TRAFFIC_EVENTS, () => void figures.reload(), 5000);
  // the cards and the 24-hour charts add up the same minutes: read as often, they never disagree on screen; the
  // 7-day charts (a heavier read, and no card beside them) at most every 30 s
  useLiveReload(TRAFFIC_EVENTS, () => void series.reload(), range === '24h' ? 5000 : 30_000);
  useEvent('alert', () => void figures.reload());
  // moat.json edited by hand sends no event: the relay's word on it is asked for each time the dashboard opens
  const reloadRelay = relay.reload;
  useEffect(() => void reloadRelay(), [reloadRelay]);
  const accounts = useCall('accounts.list', {});
  // a lockout sends no event of its own: asked again as the clock on this page moves (every 15 s)
  const reloadAccounts = accounts.reload;
  useEffect(() => void reloadAccounts(), [now, reloadAccounts]);
  const live = liveWarnings(relay.data, summary.data);
  const locks = lockedAccountWarnings(accounts.data?.accounts, now);
  const warnings = [...live, ...locks];
  const checklist = useCall('checklist.get', {});
  const failingProbes = checklist.data?.probes.filter((probe) => probe.status === 'failing').length ?? 0;
  const warnedProbes = checklist.data?.probes.filter((probe) => probe.status === 'warning').length ?? 0;

  return (
    <div className="dashboard">
      <PageHeader title="Dashboard" />
      {unanswered && relay.data ? (
        <section className="panel tone-critical" role="alert">
          <h2>The relay does not answer</h2>
          <p>
            Its admin service did not answer (is the relay running?). What this page shows is what it said before, and may be out of date. It is
            asked again when the live updates come back.
          </p>
          {relay.error ? <ErrorMessage error={relay.error} onRetry={() => void relay.reload()} /> : null}
        </section>
      ) : null}
      <div className="cards">
        <RelayCard relay={relay} now={now} unanswered={unanswered} paused={summary.data?.queueHeld ?? false} />
        <QueueCard summary={summary} quarantined={figures.data?.quarantined} requests={figures.data?.releaseRequests} now={now} />
        <TodayCard figures={figures} />
        <DiskUseCard />
      </div>

      {warnings.length > 0 ? (
        <section className="panel" aria-labelledby="warnings-title">
          <h2 id="warnings-title">Needs attention now</h2>
          <WarningList warnings={warnings} now={now} />
        </section>
      ) : null}

      <section className="panel" aria-labelledby="alerts-title">
        <h2 id="alerts-title">Open alerts</h2>
        {unanswered ? <Empty>Not known while the relay does not answer.</Empty> : <AlertList alerts={openAlerts} now={now} warnings={live.length} lockouts={locks.length} failingProbes={failingProbes} warnedProbes={warnedProbes} />}
      </section>

      <section className="panel" aria-labelledby="charts-title">
        <div className="panel-header">
          <h2 id="charts-title">Traffic</h2>
          <div className="segmented" role="group" aria-label="Chart range">
            <button type="button" aria-pressed={range === '24h'} onClick={() => setRange('24h')}>
              24 hours
            </button>
            <button type="button" aria-pressed={range === '7d'} onClick={() => setRange('7d')}>
              7 days
            </button>
          </div>
        </div>
        {series.error && !series.data ? <ErrorMessage error={series.error} onRetry={() => void series.reload()} /> : null}
        {!series.data && series.loading ? <Loading label="Loading the charts…" /> : null}
        {series.data ? (
          series.data.buckets.length === 0 ? (
            <Empty>No traffic recorded yet.</Empty>
          ) : (
            <div className="charts">
              <LineChart title="Throughput" range={range} rows={series.data.buckets} series={[{ key: 'received', label: 'Received' }, { key: 'delivered', label: 'Delivered' }, { key: 'submitted', label: 'Sent by office', tone: 4 }]} />
              <LineChart
                title="Rejections and failures"
                range={range}
                rows={series.data.buckets}
                series={[
                  { key: 'rejected', label: 'Rejected' },
                  { key: 'deferred', label: 'Deferred' },
                  { key: 'bounced', label: 'Bounced' },
                ]}
              />
              <LineChart title="Quarantine" range={range} rows={series.data.buckets} series={[{ key: 'quarantined', label: 'Quarantined' }]} />
            </div>
          )
        ) : null}
      </section>
    </div>
  );
}

function RelayCard({ relay, now, unanswered, paused }: { relay: CallState<RelayStatus>; now: number; unanswered: boolean; paused: boolean }) {
  const status = relay.data;
  return (
    <section className="card" aria-labelledby="relay-title">
      <h2 id="relay-title">Relay</h2>
      {!status && relay.loading ? <Loading /> : null}
      {!status && relay.error ? <ErrorMessage error={relay.error} onRetry={() => void relay.reload()} /> : null}
      {status ? (
        <>
          {unanswered ? (
            <p>
              <Badge tone="critical">Not answering</Badge> <span className="muted">last known: {RELAY_STATE[status.state].label.toLowerCase()}</span>
            </p>
          ) : (
            <p>
              <Badge tone={RELAY_STATE[status.state].tone}>{RELAY_STATE[status.state].label}</Badge>
              {status.state === 'running' && status.startedAt ? (
                <span className="muted">
                  {' '}
                  for {formatDuration(now - status.startedAt)}
                  {status.appliedAt ? (
                    <>
                      , since an Apply restarted it at <Time ms={status.appliedAt} />
                    </>
                  ) : null}
                </span>
              ) : null}
            </p>
          )}
          {status.error ? <PlainError raw={status.error} compact /> : null}
          {status.state === 'setup' ? (
            <p>
              <a href="#/setup">Run the setup wizard</a> to start receiving mail.
            </p>
          ) : null}
          <h3 className="small-heading">{unanswered ? 'Routes (last known)' : 'Routes'}</h3>
          {status.routes.length === 0 && status.state !== 'running' ? (
            <p className="muted">No delivery routes yet.</p>
          ) : (
            <ul className="routes">
              {/* a route is known once mail has gone its way; until then the internal server is there, not yet tried */}
              {status.state === 'running' && !status.routes.some((route) => route.route === 'internal') ? (
                <li>
                  <Badge tone="neutral">Not tried yet</Badge> <strong>{ROUTE_NAMES.internal}</strong> <span className="muted">{status.appliedAt ? 'nothing to deliver since an Apply restarted the relay' : 'nothing to deliver since the relay started'}</span>
                </li>
              ) : null}
              {status.routes.map((route) => (
                <li key={route.route}>
                  <Badge tone={route.state === 'up' ? 'ok' : 'warning'}>{ROUTE_STATE[route.state].label}</Badge> <strong>{ROUTE_NAMES[route.route] ?? route.route}</strong>{' '}
                  <span className="muted">
                    {ROUTE_STATE[route.state].since} <Time ms={route.since} /> ({formatDuration(now - route.since)})
                  </span>
                  {route.state !== 'up' ? <DownRoute route={route} paused={paused} onRetried={() => void relay.reload()} /> : null}
                </li>
              ))}
            </ul>
          )}
          <p className="muted small">
            Moat {status.version} on {status.hostname}
            {status.addresses.mx ? ` · mail on ${status.addresses.mx}` : ''}
            {status.addresses.submission ? ` · submission on ${status.addresses.submission}` : ''}
            {status.addresses.submissions ? ` and ${status.addresses.submissions}` : ''}
          </p>
        </>
      ) : null}
    </section>
  );
}

/**
 * How a route fared at its last try (src-relay/queue/route-state.ts). Its `since` is when it stopped taking mail, kept
 * when it went from down to refusing or back: said so, not as the time of its present state.
 */
const ROUTE_STATE: Record<RelayStatus['routes'][number]['state'], { label: string; since: string; still: string; back: string }> = {
  up: { label: 'Up', since: 'since', still: '', back: '' },
  refusing: { label: 'Refusing mail', since: 'answers, but has taken no mail since', still: 'still refusing mail', back: 'Server taking mail again?' },
  down: { label: 'Down', since: 'not reachable; no mail taken since', still: 'still not reachable', back: 'Server back up?' },
};

/**
 * A route is down (or refusing mail) as of its last try: Moat looks again only at the next one, which can be an hour
 * away after a long outage. The internal server's row can ask for that try now (once the admin has fixed the server).
 */
function DownRoute({ route, paused, onRetried }: { route: RelayStatus['routes'][number]; paused: boolean; onRetried: () => void }) {
  const action = useAction();
  const [report, setReport] = useState<string | null>(null);
  // the route's last try as it stood at the click (the relay's clock, not this computer's): a later one answers it
  const [triedAfter, setTriedAfter] = useState<number | null>(null);
  const tryNow = async () => {
    const before = route.checkedAt;
    const result = await action.run(() => call('queue.actOnDestination', { action: 'retry', route: 'internal', domain: null }));
    if (!result) return;
    const count = `${formatCount(result.done.length)} waiting ${result.done.length === 1 ? 'message' : 'messages'}`;
    if (!result.done.length) setReport('No message is waiting for it.');
    else setReport(paused ? `${count} made due: they go as soon as you resume delivery (it is paused).` : `Trying ${count} now.`);
    setTriedAfter(result.done.length && !paused ? before : null);
    onRetried();
  };
  // the try's answer: had the server taken it, this row would be gone (the route is up)
  const answered = triedAfter !== null && route.checkedAt > triedAfter;
  return (
    <>
      <span className="muted">
        {' '}
        · as of the last try, <Time ms={route.checkedAt} relative />
      </span>
      {route.lastError ? <PlainError raw={route.lastError} compact /> : null}
      {route.route === 'internal' ? (
        <p className="route-retry">
          <button type="button" onClick={() => void tryNow()} disabled={action.busy}>
            {action.busy ? 'Trying…' : 'Try it again now'}
          </button>{' '}
          {answered ? (
            <span role="status">Tried again: {ROUTE_STATE[route.state].still} (the reason is above).</span>
          ) : report ? (
            <span role="status">{report}</span>
          ) : (
            <span className="muted small">{ROUTE_STATE[route.state].back} Moat tries the waiting mail at once.</span>
          )}
        </p>
      ) : null}
      <ErrorMessage error={action.error} />
    </>
  );
}

function QueueCard({ summary, quarantined, requests, now }: { summary: CallState<QueueSummary>; quarantined: number | undefined; requests: number | undefined; now: number }) {
  const data = summary.data;
  return (
    <section className="card" aria-labelledby="queue-card-title">
      <h2 id="queue-card-title">Queue</h2>
      {!data && summary.loading ? <Loading /> : null}
      {!data && summary.error ? <ErrorMessage error={summary.error} onRetry={() => void summary.reload()} /> : null}
      {data ? (
        <>
          <p className="big-number">
            <a href="#/queue">{formatCount(data.size)}</a> <span className="big-label">{data.size === 1 ? 'message waiting' : 'messages waiting'}</span>
          </p>
          {/* from its arrival, or from its release out of quarantine (its "Received" in the list stays the arrival) */}
          <p title="Counted from its arrival, or from its release out of quarantine">Waiting longest: {data.oldest ? formatDuration(now - data.oldest) : '—'}</p>
          <p>Held: {formatCount(data.held)}</p>
          {data.queueHeld ? <Badge tone="warning">Delivery paused</Badge> : null}
          {quarantined !== undefined ? (
            <p>
              In quarantine: <a href="#/quarantine">{formatCount(quarantined)}</a>
            </p>
          ) : null}
          {requests ? (
            <p>
              <Badge tone="warning">Release requests</Badge>{' '}
              <a href="#/quarantine">
                {formatCount(requests)} {requests === 1 ? 'message a user asked for waits' : 'messages users asked for wait'} for your answer
              </a>
            </p>
          ) : null}
        </>
      ) : null}
    </section>
  );
}

function TodayCard({ figures }: { figures: CallState<Output<'dashboard.get'>> }) {
  const data = figures.data;
  return (
    <section className="card" aria-labelledby="today-title">
      <h2 id="today-title">Last 24 hours</h2>
      {!data && figures.loading ? <Loading /> : null}
      {!data && figures.error ? <ErrorMessage error={figures.error} onRetry={() => void figures.reload()} /> : null}
      {data ? (
        <dl className="figures">
          {(
            [
              ['Received from the internet', data.last24h.received],
              ['Sent by office clients', data.last24h.submitted],
              ['Delivered (recipients)', data.last24h.delivered],
              ['Rejected', data.last24h.rejected],
              ['Quarantined', data.last24h.quarantined],
              ['Bounced (recipients)', data.last24h.bounced],
            ] as const
          ).map(([label, value]) => (
            <div key={label}>
              <dt>{label}</dt>
              <dd>{formatCount(value)}</dd>
            </div>
          ))}
        </dl>
      ) : null}
    </section>
  );
}

/** What is wrong right now (lib/health.ts), each error explained, before any alert's threshold is reached. */
function WarningList({ warnings, now }: { warnings: readonly LiveWarning[]; now: number }) {
  return (
    <ul className="live-warnings">
      {warnings.map((warning) => (
        <li key={warning.id} role="alert">
          <div className="alert-head">
            <strong>{warning.title}</strong>
            {warning.since ? (
              <span className="muted">
                since <Time ms={warning.since} /> ({formatDuration(now - warning.since)})
              </span>
            ) : null}
          </div>
          {warning.raw ? <PlainError raw={warning.raw} /> : null}
          {warning.detail ? <p className="warning-detail">{warning.detail}</p> : null}
          {warning.link ? (
            <p>
              <a href={warning.link.href}>{warning.link.label}</a>
            </p>
          ) : null}
        </li>
      ))}
    </ul>
  );
}

/**
 * `warnings`: how many live warnings of the relay's state the page shows (each may become an alert); `lockouts`: locked
 * log-ins listed beside them (never an alert); `failingProbes` and `warnedProbes`: the checklist's items failing and
 * warned about (what the menu counts beside Checklist). "All is well" only when there is none of them.
 */
export function AlertList({ alerts, now, warnings = 0, lockouts = 0, failingProbes = 0, warnedProbes = 0 }: { alerts: readonly Alert[]; now: number; warnings?: number; lockouts?: number; failingProbes?: number; warnedProbes?: number }) {
  if (alerts.length === 0) {
    if (warnings > 0) return <Empty>No alert raised yet: an alert waits until a problem has lasted past its threshold. See "Needs attention now" above.</Empty>;
    if (lockouts > 0) return <Empty>No open alerts. {lockouts === 1 ? 'A log-in locked after failed passwords is' : `${lockouts} log-ins locked after failed passwords are`} listed under "Needs attention now" above.</Empty>;
    if (failingProbes + warnedProbes > 0) {
      const failing = failingProbes === 0 ? '' : failingProbes === 1 ? 'one item of the checklist is failing' : `${failingProbes} items of the checklist are failing`;
      const warned = warnedProbes === 0 ? '' : failingProbes > 0 ? `${warnedProbes === 1 ? 'one more has' : `${warnedProbes} more have`} a warning` : warnedProbes === 1 ? 'one item of the checklist has a warning' : `${warnedProbes} items of the checklist have a warning`;
      return (
        <Empty>
          No open alerts, but {[failing, warned].filter(Boolean).join(', and ')}: see the <a href="#/checklist">Checklist</a>.
        </Empty>
      );
    }
    return <Empty>No open alerts. All is well.</Empty>;
  }
  return (
    <>
      {groupAlerts(alerts).map((group) => (
        <div key={group.severity} className="alert-group">
          <h3 className="small-heading">{group.title}</h3>
          <ul className="alerts">
            {group.alerts.map((alert) => (
              <li key={alert.id} className={`alert tone-${alert.severity === 'critical' ? 'critical' : 'warning'}`}>
                <div className="alert-head">
                  <strong>{alert.title}</strong>
                  <span className="muted">
                    since <Time ms={alert.raisedAt} /> ({formatDuration(now - alert.raisedAt)})
                  </span>
                </div>
                {/* the figures are the ones that raised it: said so, beside "since", so an hour-old count is not read as now */}
                <p>
                  <span className="muted">When raised:</span> {alert.message}
                </p>
                {alert.hint ? (
                  <p className="hint-text">
                    <span className="hint-label">What to do:</span> {alert.hint}
                  </p>
                ) : null}
              </li>
            ))}
          </ul>
        </div>
      ))}
    </>
  );
}
