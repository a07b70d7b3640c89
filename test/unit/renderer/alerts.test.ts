import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyAlertEvent, groupAlerts, MAX_NOTICES, noticeFor, pushNotice, sortAlerts, type Alert } from '../../../src-renderer/lib/alerts.ts';

const alert = (id: number, severity: Alert['severity'], raisedAt: number, rule = `rule-${id}`): Alert => ({
  id,
  rule,
  severity,
  title: `Alert ${id}`,
  message: 'something is wrong',
  hint: 'do this',
  raisedAt,
  clearedAt: null,
  clearMessage: null,
});

test('critical alerts come first, then the newest', () => {
  const sorted = sortAlerts([alert(1, 'warning', 300), alert(2, 'critical', 100), alert(3, 'warning', 500)]);
  assert.deepEqual(sorted.map((item) => item.id), [2, 3, 1]);
});

test('a raised alert appears, raising it again does not double it, and clearing removes it', () => {
  let open: Alert[] = [alert(1, 'warning', 100)];
  open = applyAlertEvent(open, { action: 'raised', alert: alert(2, 'critical', 200) });
  assert.deepEqual(open.map((item) => item.id), [2, 1]);
  open = applyAlertEvent(open, { action: 'raised', alert: { ...alert(2, 'critical', 200), message: 'worse' } });
  assert.equal(open.length, 2);
  assert.equal(open[0]!.message, 'worse');
  open = applyAlertEvent(open, { action: 'cleared', alert: { ...alert(1, 'warning', 100), clearedAt: 300 } });
  assert.deepEqual(open.map((item) => item.id), [2]);
});

test('an updated alert replaces the open one with its id, with its new advice, and its notice takes the place of the raised one', () => {
  let open: Alert[] = [alert(1, 'critical', 100, 'internal-down')];
  open = applyAlertEvent(open, { action: 'updated', alert: { ...alert(1, 'critical', 100, 'internal-down'), hint: 'Check the firewall.' } });
  assert.deepEqual(open.map((item) => [item.id, item.hint]), [[1, 'Check the firewall.']]);
  const raised = noticeFor({ action: 'raised', alert: alert(1, 'critical', 100, 'internal-down') });
  const updated = noticeFor({ action: 'updated', alert: { ...alert(1, 'critical', 100, 'internal-down'), message: 'unreachable for 12 min' } });
  assert.deepEqual(pushNotice([raised], updated), [{ key: 'alert-1', tone: 'critical', title: 'Alert 1', text: 'unreachable for 12 min' }]);
});

test('alerts group by severity and empty groups are left out', () => {
  assert.deepEqual(groupAlerts([alert(1, 'warning', 1)]).map((group) => group.title), ['Warnings']);
  assert.deepEqual(groupAlerts([]), []);
});

test('notices say raised or cleared and only the latest few stay', () => {
  assert.equal(noticeFor({ action: 'raised', alert: alert(1, 'critical', 1) }).tone, 'critical');
  const cleared = noticeFor({ action: 'cleared', alert: { ...alert(1, 'critical', 1), clearMessage: 'the queue is short again' } });
  assert.deepEqual([cleared.tone, cleared.title, cleared.text], ['ok', 'Cleared: Alert 1', 'the queue is short again']);
  let notices = [cleared];
  for (let id = 2; id < 10; id += 1) notices = pushNotice(notices, noticeFor({ action: 'raised', alert: alert(id, 'warning', id) }));
  assert.equal(notices.length, MAX_NOTICES);
  assert.equal(notices[notices.length - 1]!.key, 'alert-9');
});

test('an alert cleared replaces its own raised notice: no red notice stays above "Cleared:"', () => {
  const raised = noticeFor({ action: 'raised', alert: alert(7, 'critical', 1) });
  const other = noticeFor({ action: 'raised', alert: alert(8, 'warning', 2) });
  const cleared = noticeFor({ action: 'cleared', alert: { ...alert(7, 'critical', 1), clearedAt: 3, clearMessage: 'the server answers again' } });
  const notices = pushNotice(pushNotice(pushNotice([], raised), other), cleared);
  assert.deepEqual(
    notices.map((notice) => [notice.tone, notice.title]),
    [
      ['warning', 'Alert 8'],
      ['ok', 'Cleared: Alert 7'],
    ],
  );
});
