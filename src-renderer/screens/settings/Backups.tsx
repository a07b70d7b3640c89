import { useState } from 'react';
import { call } from '../../api/client.ts';
import { useAction, useCall, useNow } from '../../api/hooks.ts';
import { Empty, ErrorMessage, Loading, StatusLine, Time } from '../../components/ui.tsx';
import { formatSize } from '../../lib/format.ts';

/** Backups of queue, quarantine and configuration in the backup folder; "Back up now" makes one (`onBackedUp` then). */
export function BackupsPanel({ onBackedUp }: { onBackedUp?: () => void }) {
  const list = useCall('backups.list', {});
  const action = useAction();
  const [report, setReport] = useState('');
  const now = useNow(60_000);

  const backUp = async () => {
    const result = await action.run(() => call('backups.create', {}));
    if (result) {
      setReport(`Backup ${result.file} written (${formatSize(result.size)}).`);
      void list.reload();
      onBackedUp?.();
    }
  };

  const data = list.data;
  return (
    <section aria-labelledby="backups-title">
      <div className="panel-header">
        <h2 id="backups-title">Backups</h2>
        <button type="button" className="primary" onClick={() => void backUp()} disabled={action.busy}>
          {action.busy ? 'Backing up…' : 'Back up now'}
        </button>
      </div>
      <p className="intro">A backup is a consistent copy of the queue, the quarantine and the configuration; it can be restored on another box with <code>moat backup restore</code>.</p>
      {report ? <StatusLine>{report}</StatusLine> : null}
      <ErrorMessage error={action.error} />
      {list.error && !data ? <ErrorMessage error={list.error} onRetry={() => void list.reload()} /> : null}
      {!data && list.loading ? <Loading label="Loading the backups…" /> : null}
      {data ? (
        <>
          <p>
            Folder: {data.folder ? <code>{data.folder}</code> : <span className="muted">not set (the data folder's backups/)</span>}. Last backup:{' '}
            {data.lastAt ? <Time ms={data.lastAt} relative now={now} /> : <span className="muted">never</span>}.
          </p>
          <p className={data.everyHours > 0 ? undefined : 'notice'}>
            {data.everyHours > 0 ? (
              <>Scheduled backups: every {data.everyHours === 1 ? 'hour' : `${data.everyHours} hours`}.</>
            ) : (
              <>
                Scheduled backups are off: only “Back up now” makes one. Set “Back up every” under <a href="#/settings">Configuration</a> → Backups → Scheduled backups.
              </>
            )}{' '}
            {data.encrypted
              ? 'Backups are encrypted with the passphrase file.'
              : 'Backups are not encrypted: a backup holds the keys, the accounts and every queued and quarantined message, so keep it where only you can read it, or set a passphrase file there.'}
          </p>
          {data.files.length === 0 ? (
            <Empty>{data.lastAt ? 'No backup files in this folder: the last backup was written elsewhere (moat backup create writes where it is told), or has been moved or deleted.' : 'No backups yet.'}</Empty>
          ) : (
            <table className="data-table">
              <thead>
                <tr>
                  <th scope="col">File</th>
                  <th scope="col">Made</th>
                  <th scope="col" className="num">
                    Size
                  </th>
                  <th scope="col">Encrypted</th>
                </tr>
              </thead>
              <tbody>
                {data.files.map((file) => (
                  <tr key={file.file}>
                    <th scope="row">
                      <code>{file.file}</code>
                    </th>
                    <td>
                      <Time ms={file.createdAt} />
                    </td>
                    <td className="num">{formatSize(file.size)}</td>
                    <td>{file.encrypted ? 'yes' : 'no'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      ) : null}
    </section>
  );
}
