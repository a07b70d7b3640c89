import { useEffect } from 'react';
import { useCall, useEvent, useLiveReload } from '../api/hooks.ts';
import { formatSize } from '../lib/format.ts';
import { diskUse } from '../lib/views.ts';
import { ErrorMessage, Loading } from './ui.tsx';

/** How often (ms) at most the disk card asks again for the free space. */
const DISK_REFRESH_MS = 60_000;

/** The dashboard's disk card: how full the disk holding the queue, quarantine and database is. */
export function DiskUseCard() {
  const disk = useCall('dashboard.disk', {});
  // asked again when an alert changes (the disk's own), as mail comes in, and every minute: other programs fill it too
  const { reload } = disk;
  useEvent('alert', () => void reload());
  useLiveReload(['received'], () => void reload(), DISK_REFRESH_MS);
  useEffect(() => {
    const timer = setInterval(() => void reload(), DISK_REFRESH_MS);
    return () => clearInterval(timer);
  }, [reload]);
  const space = disk.data ?? null;
  const use = diskUse(space);
  return (
    <section className="card" aria-labelledby="disk-title">
      <h2 id="disk-title">Disk</h2>
      {disk.data === undefined && disk.loading ? <Loading /> : null}
      {disk.data === undefined && disk.error ? <ErrorMessage error={disk.error} onRetry={() => void disk.reload()} /> : null}
      {disk.data === null ? <p className="muted">The free space could not be read.</p> : null}
      {space && use ? (
        <>
          <p className="big-number">
            {formatSize(space.free)} <span className="big-label">free of {formatSize(space.total)}</span>
          </p>
          <div
            className={`meter tone-${use.tone}`}
            role="meter"
            aria-label="Disk used"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={Math.round(use.usedShare * 100)}
            aria-valuetext={`${Math.round(use.usedShare * 100)} % used`}
          >
            <span style={{ width: `${Math.round(use.usedShare * 100)}%` }} />
          </div>
          <p className="muted small">
            {Math.round(use.usedShare * 100)} % used. Holds the queue, the quarantine and the database ({space.path}). When it is full, mail is refused with "try later".
          </p>
        </>
      ) : null}
    </section>
  );
}
