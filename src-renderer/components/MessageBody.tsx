import { useState } from 'react';
import { call } from '../api/client.ts';
import { useAction, useCall } from '../api/hooks.ts';
import { formatSize } from '../lib/format.ts';
import { ErrorMessage, Loading } from './ui.tsx';

/**
 * A queued or quarantined message's content: its text shown as text (HTML's tags removed, nothing loaded), its header
 * fields and attachments on request, and its file as .eml for the admin's own mail program (the download is written
 * in the message's history).
 */
export function MessageBody({ id, headingLevel = 3 }: { id: string; headingLevel?: 3 | 4 }) {
  const Sub = headingLevel === 3 ? 'h3' : 'h4';
  const [open, setOpen] = useState(false);
  const body = useCall('queue.body', open ? { id } : null);
  const download = useAction();

  const save = async () => {
    const link = await download.run(() => call('queue.download', { id }));
    if (!link) return;
    // the answer is an attachment (Content-Disposition): the browser saves it and the page stays
    const anchor = document.createElement('a');
    anchor.href = link.url;
    anchor.download = `${id}.eml`;
    document.body.append(anchor);
    anchor.click();
    anchor.remove();
  };

  return (
    <section className="message-body" aria-label="Message content">
      <Sub>Content</Sub>
      <div className="form-buttons">
        <button type="button" aria-expanded={open} onClick={() => setOpen((value) => !value)}>
          {open ? 'Hide message text' : 'Show message text'}
        </button>
        <button type="button" onClick={() => void save()} disabled={download.busy}>
          Download .eml
        </button>
      </div>
      <p className="muted small">Shown as plain text: links and pictures are not loaded. A download is recorded in the message's history.</p>
      {download.error ? <ErrorMessage error={download.error} /> : null}
      {open && body.error ? <ErrorMessage error={body.error} onRetry={() => void body.reload()} /> : null}
      {open && !body.data && body.loading ? <Loading label="Reading the message…" /> : null}
      {open && body.data ? (
        <>
          <pre className="message-text" aria-label="Message text" tabIndex={0}>
            {body.data.text.trim() || '(no text)'}
          </pre>
          {body.data.truncated ? <p className="muted small">Only the beginning is shown. Download the .eml to read all of it.</p> : null}
          {body.data.attachments.length > 0 ? (
            <ul className="attachments" aria-label="Attachments">
              {body.data.attachments.map((attachment) => (
                <li key={attachment.part}>
                  <span className="addr-text">{attachment.filename ?? '(no name)'}</span> <span className="muted small">{attachment.contentType}, {formatSize(attachment.size)}</span>
                </li>
              ))}
            </ul>
          ) : null}
          <details>
            <summary>Header fields</summary>
            <dl className="header-fields">
              {body.data.headers.map((header, index) => (
                <div key={`${header.name}-${index}`}>
                  <dt>{header.name}</dt>
                  <dd>{header.value}</dd>
                </div>
              ))}
            </dl>
          </details>
        </>
      ) : null}
    </section>
  );
}
