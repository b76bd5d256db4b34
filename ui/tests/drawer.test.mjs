// The ticket drawer: open (click, Enter, open-ticket events), details, comments, field changes
// with expectedVersion, conflicts, attachments, Escape / focus trap / focus restore.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  ADMIN, FakeShell, commandError, session, tid, until, untilText, useApp,
} from './support.mjs';

const withApp = useApp({ before, after }, { ready: 'card-101' });

const drawer = (page, id) => page.locator(`${tid('ticket-drawer')}[data-ticket-id="${id}"]`);

function activeTestId(page) {
  return page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? null);
}

describe('ticket drawer', () => {
  test('opens on click with details and the comment thread; a comment can be added', async (t) => {
    const shell = new FakeShell();
    shell.commentsByTicket.set(101, [
      { id: 1, ticketId: 101, authorId: 3, body: 'Fire brigade called', createdAt: '2026-01-01T10:00:00Z', fromRequester: false },
      { id: 2, ticketId: 101, authorId: 2, body: 'On my way', createdAt: '2026-01-01T10:05:00Z', fromRequester: false },
    ]);
    shell.attachmentsByTicket.set(101, [
      { id: 7, ticketId: 101, name: 'smoke.jpg', size: 204800, contentType: 'image/jpeg', uploadedBy: 3, createdAt: '2026-01-01T10:01:00Z' },
    ]);
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).click();
      const d = drawer(page, 101);
      await d.waitFor();
      assert.equal(await d.getAttribute('role'), null, 'a <dialog> (implicit role dialog)');
      assert.equal(await d.evaluate((e) => e.tagName), 'DIALOG');
      assert.match(await d.textContent(), /Printer on fire/);
      assert.match(await d.textContent(), /Erin Example/);
      assert.equal(await page.locator(tid('drawer-priority')).inputValue(), 'urgent');
      assert.equal(await page.locator(tid('drawer-status')).inputValue(), 'open');
      assert.equal(await page.locator(tid('drawer-assignee')).inputValue(), '2');
      await until(async () => (await page.locator(tid('comment')).count()) === 2, 'two comments');
      assert.match(await page.locator(tid('comments')).textContent(), /Fire brigade called[\s\S]*On my way/);
      assert.match(await page.locator(tid('comments')).textContent(), /You/, 'own comments are "You"');
      await untilText(page.locator(tid('attachments')), /smoke\.jpg.*200 KB/, 'the attachment');
      assert.deepEqual(shell.callsOf('comments')[0].args, { ticketId: 101 });
      assert.deepEqual(shell.callsOf('mark_read')[0].args, { ticketId: 101 });

      await page.locator(tid('comment-body')).fill('Extinguisher used, all fine');
      await page.locator(tid('comment-submit')).click();
      await until(() => shell.callsOf('add_comment').length === 1, 'add_comment called');
      assert.deepEqual(shell.callsOf('add_comment')[0].args, { ticketId: 101, comment: { body: 'Extinguisher used, all fine', fromRequester: false } });
      await until(async () => (await page.locator(tid('comment')).count()) === 3, 'the new comment shown');
      assert.equal(await page.locator(tid('comment-body')).inputValue(), '', 'the composer is emptied');

      // A comment by someone else arrives live.
      await shell.desk({ kind: 'event', resource: 'comment', event: { action: 'create', seq: 50, companyId: 1, userId: 3, timestamp: '2026-01-01T11:00:00Z', comment: { id: 99, ticketId: 101, authorId: 3, body: 'Thanks!', createdAt: '2026-01-01T11:00:00Z', fromRequester: false } } });
      await until(async () => (await page.locator(tid('comment')).count()) === 4, 'the live comment shown');
      assert.equal(shell.callsOf('comments').length, 1, 'the thread is not refetched');
    });
  });

  test('priority / status / assignee changes call patch_ticket with expectedVersion', async (t) => {
    const shell = new FakeShell({ session: session(ADMIN) });
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-104')).click();
      await drawer(page, 104).waitFor();
      await page.locator(tid('drawer-priority')).selectOption('urgent');
      await until(() => shell.callsOf('patch_ticket').length === 1, 'patch_ticket called');
      assert.deepEqual(shell.callsOf('patch_ticket')[0].args, { ticketId: 104, expectedVersion: 1, patch: { priority: 'urgent' } });
      // The card follows (from the event).
      await untilText(page.locator(`${tid('card-104')} ${tid('card-priority')}`), /Urgent/, 'the card shows urgent');

      await page.locator(tid('drawer-status')).selectOption('pending');
      await until(() => shell.callsOf('patch_ticket').length === 2, 'second patch');
      assert.deepEqual(shell.callsOf('patch_ticket')[1].args, { ticketId: 104, expectedVersion: 2, patch: { status: 'pending' } });

      // Admins pick among the users; "Unassigned" is null.
      const options = await page.locator(`${tid('drawer-assignee')} option`).allTextContents();
      assert.deepEqual(options, ['Unassigned', 'Ada Admin (me)', 'Alex Agent', 'Sam Support']);
      await page.locator(tid('drawer-assignee')).selectOption('');
      await until(() => shell.callsOf('patch_ticket').length === 3, 'third patch');
      assert.deepEqual(shell.callsOf('patch_ticket')[2].args, { ticketId: 104, expectedVersion: 3, patch: { assigneeId: null } });
    });
  });

  test('a conflicting change: message, and the drawer shows the server\'s state', async (t) => {
    const shell = new FakeShell();
    shell.handle('patch_ticket', async (args, s) => {
      const current = { ...s.findTicket(args.ticketId), priority: /** @type {const} */ ('high'), version: 5 };
      Object.assign(s.findTicket(args.ticketId), current);
      await s.deltas({ kind: 'ticketUpserted', ...current });
      throw commandError('conflict', 'the ticket changed', current);
    });
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-103')).click();
      await drawer(page, 103).waitFor();
      await page.locator(tid('drawer-priority')).selectOption('urgent');
      await untilText(page.locator(tid('drawer-error')), /Someone changed this ticket meanwhile/, 'the conflict message');
      await until(async () => (await page.locator(tid('drawer-priority')).inputValue()) === 'high', 'the server\'s priority');
      assert.deepEqual(shell.callsOf('patch_ticket')[0].args, { ticketId: 103, expectedVersion: 1, patch: { priority: 'urgent' } });
    });
  });

  test('attachments: a chosen file is uploaded as bytes', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-102')).click();
      await drawer(page, 102).waitFor();
      await page.locator(tid('attachment-input')).setInputFiles({ name: 'log.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
      await until(() => shell.callsOf('upload_attachment').length === 1, 'upload_attachment called');
      assert.deepEqual(shell.callsOf('upload_attachment')[0].args, {
        ticketId: 102, fileName: 'log.txt', contentType: 'text/plain', bytes: [104, 101, 108, 108, 111],
      });
      await untilText(page.locator(tid('attachments')), /log\.txt/, 'the uploaded file listed');
    });
  });

  test('attachments: Save downloads one into the Downloads folder and says where; a failure says why', async (t) => {
    const shell = new FakeShell();
    shell.attachmentsByTicket.set(101, [
      { id: 7, ticketId: 101, name: 'smoke.jpg', size: 204800, contentType: 'image/jpeg', uploadedBy: 3, createdAt: '2026-01-01T10:01:00Z' },
    ]);
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).click();
      await drawer(page, 101).waitFor();
      const save = page.locator(tid('attachment-save'));
      await save.waitFor();
      assert.equal(await save.getAttribute('aria-label'), 'Save smoke.jpg to Downloads');
      await save.click();
      await until(() => shell.callsOf('save_attachment').length === 1, 'save_attachment called');
      assert.deepEqual(shell.callsOf('save_attachment')[0].args, { attachmentId: 7, fileName: 'smoke.jpg' });
      await untilText(page.locator(tid('toast')).last(), /smoke\.jpg saved to \/home\/agent\/Downloads\/smoke\.jpg/, 'where it was saved');

      shell.handle('save_attachment', () => {
        throw commandError('save_failed', 'cannot save smoke.jpg in /home/agent/Downloads: No space left on device');
      });
      await save.click();
      await untilText(page.locator(tid('toast')).last(), /smoke\.jpg was not saved: .*No space left/, 'why it was not saved');
    });
  });

  test('keyboard: Enter opens, focus trapped, Escape closes and gives the focus back', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-106')).focus();
      await page.keyboard.press('Enter');
      await drawer(page, 106).waitFor();
      await until(async () => (await activeTestId(page)) === 'drawer-close', 'the close button focused');
      // Tab around: the focus never leaves the drawer.
      for (let i = 0; i < 14; i++) {
        await page.keyboard.press(i % 5 === 4 ? 'Shift+Tab' : 'Tab');
        assert.equal(await page.evaluate(() => !!document.activeElement?.closest('[data-testid="ticket-drawer"]')), true, `focus in the drawer after ${i + 1} tabs`);
      }
      await page.keyboard.press('Escape');
      await drawer(page, 106).waitFor({ state: 'hidden' });
      await until(async () => (await activeTestId(page)) === 'card-106', 'focus back on the card');
    });
  });

  test('deskbell://open-ticket (and the openTicket desk event) open that ticket\'s drawer', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await shell.emit('deskbell://open-ticket', 104);
      await drawer(page, 104).waitFor();
      assert.match(await drawer(page, 104).textContent(), /Password reset/);
      await until(() => shell.callsOf('mark_read').some((c) => c.args.ticketId === 104), 'mark_read(104)');
      await page.locator(tid('drawer-close')).click();
      await page.locator(tid('ticket-drawer')).waitFor({ state: 'hidden' });

      await shell.desk({ kind: 'openTicket', ticketId: 102 });
      await drawer(page, 102).waitFor();
      // Another one while open: the drawer switches.
      await shell.emit('deskbell://open-ticket', 101);
      await drawer(page, 101).waitFor();
      assert.match(await drawer(page, 101).textContent(), /Printer on fire/);
    });
  });
});
