// Who wrote what, and a thread that survives the network: comment authors (the requester's
// words recorded by a member, colleagues with their role, "You"), assigning to any colleague,
// the drawer reloading after a reconnect, and the offline copy of recently opened tickets
// (cleared at sign-out).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { FakeShell, commandError, tid, until, untilText, useApp } from './support.mjs';

const withApp = useApp({ before, after }, { ready: 'card-101' });

/** @param {number} id @param {number} authorId @param {string} body @param {boolean} [fromRequester] */
function comment(id, authorId, body, fromRequester = false) {
  return { id, ticketId: 101, authorId, body, createdAt: `2026-01-01T10:0${id}:00Z`, fromRequester };
}

/** Every comment as shown: author, badge, "recorded by". @param {import('playwright-core').Page} page */
function shownComments(page) {
  return page.$$eval('[data-testid="comment"]', (els) =>
    els.map((e) => [
      e.querySelector('[data-testid="comment-author"]')?.textContent?.trim() ?? '',
      e.querySelector('[data-testid="comment-badge"]')?.textContent?.trim() ?? '',
      e.querySelector('[data-testid="comment-recorded"]')?.textContent?.trim() ?? '',
    ]),
  );
}

async function openTicket(page, id) {
  await page.locator(tid(`card-${id}`)).click();
  await page.locator(`${tid('ticket-drawer')}[data-ticket-id="${id}"]`).waitFor();
}

async function closeDrawer(page) {
  await page.locator(tid('drawer-close')).click();
  await until(async () => !(await page.locator(tid('ticket-drawer')).evaluate((d) => d.open)), 'the drawer closed');
}

describe('comment authors and assignees', () => {
  test('every comment names its author: the requester (recorded by whom), colleagues with their role, You', async (t) => {
    const shell = new FakeShell();
    shell.commentsByTicket.set(101, [
      comment(1, 3, 'The printer smokes', true),
      comment(2, 1, 'Facilities are on their way'),
      comment(3, 3, 'Fire brigade called'),
      comment(4, 2, 'On my way'),
      comment(5, 2, 'They called back: it is out', true),
      comment(6, 99, 'An old note'),
    ]);
    await withApp(t, shell, async (page) => {
      await openTicket(page, 101);
      await until(async () => (await page.locator(tid('comment')).count()) === 6, 'six comments');
      assert.deepEqual(await shownComments(page), [
        ['Erin Example', 'Requester', 'recorded by Sam Support'],
        ['Ada Admin', 'Admin', ''],
        ['Sam Support', 'Agent', ''],
        ['You', '', ''],
        ['Erin Example', 'Requester', 'recorded by you'],
        ['A former member', '', ''],
      ]);
      const text = await page.locator(tid('comments')).textContent();
      assert.doesNotMatch(text ?? '', /User #/, 'no bare ids');
    });
  });

  test("an agent assigns a ticket to a colleague (agents may list every member's name, not users)", async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await openTicket(page, 102);
      const options = await page.locator(`${tid('drawer-assignee')} option`).allTextContents();
      assert.deepEqual(options, ['Unassigned', 'Ada Admin · Admin', 'Alex Agent (me)', 'Sam Support']);
      await page.locator(tid('drawer-assignee')).selectOption('3');
      await until(() => shell.callsOf('patch_ticket').length === 1, 'patch_ticket called');
      assert.deepEqual(shell.callsOf('patch_ticket')[0].args, { ticketId: 102, expectedVersion: 1, patch: { assigneeId: 3 } });
      assert.equal(shell.callsOf('users').length, 0, 'an agent does not ask for the admin-only user list');
    });
  });

  test("a requester's message that came by phone is recorded as theirs", async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await openTicket(page, 101);
      await page.locator(tid('comment-body')).fill('Called: the smoke is gone');
      await page.locator(tid('comment-from-requester')).check();
      await untilText(page.locator(tid('comment-submit')), /Record message/, 'the button says what it does');
      await page.locator(tid('comment-submit')).click();
      await until(() => shell.callsOf('add_comment').length === 1, 'add_comment called');
      assert.deepEqual(shell.callsOf('add_comment')[0].args, {
        ticketId: 101,
        comment: { body: 'Called: the smoke is gone', fromRequester: true },
      });
      await until(async () => (await shownComments(page)).length === 1, 'the message shown');
      assert.deepEqual(await shownComments(page), [['Erin Example', 'Requester', 'recorded by you']]);
      assert.equal(await page.locator(tid('comment-from-requester')).isChecked(), false, 'the next one is mine again');
    });
  });
});

describe('the thread survives the network', () => {
  test('comments that failed to load are loaded when the connection is back', async (t) => {
    const shell = new FakeShell();
    let up = false;
    shell.handle('comments', () => {
      if (!up) throw commandError('network', 'the server cannot be reached');
      return [comment(1, 3, 'Fire brigade called')];
    });
    await withApp(t, shell, async (page) => {
      await openTicket(page, 101);
      await page.locator(tid('comments-failed')).waitFor();
      await shell.desk({ kind: 'state', state: { state: 'connecting', attempt: 1, retryAt: null } });
      up = true;
      await shell.desk({ kind: 'state', state: { state: 'live' } });
      await until(async () => (await page.locator(tid('comment')).count()) === 1, 'loaded after the reconnect');
      assert.equal(await page.locator(tid('comments-failed')).count(), 0, 'the failure is gone');
    });
  });

  test('a reconnect brings what was missed into the open drawer, and drops what was deleted meanwhile', async (t) => {
    const shell = new FakeShell();
    shell.commentsByTicket.set(101, [comment(1, 3, 'First'), comment(2, 3, 'Deleted later')]);
    await withApp(t, shell, async (page) => {
      await openTicket(page, 101);
      await until(async () => (await page.locator(tid('comment')).count()) === 2, 'two comments');
      await shell.desk({ kind: 'state', state: { state: 'connecting', attempt: 1, retryAt: null } });
      shell.commentsByTicket.set(101, [comment(1, 3, 'First'), comment(3, 1, 'Written during the outage')]);
      await shell.desk({ kind: 'state', state: { state: 'live' } });
      await untilText(page.locator(tid('comments')), /Written during the outage/, 'the missed comment');
      assert.doesNotMatch((await page.locator(tid('comments')).textContent()) ?? '', /Deleted later/);
    });
  });

  test('a ticket opened before is readable offline; the copy is gone after signing out', async (t) => {
    const shell = new FakeShell();
    shell.commentsByTicket.set(101, [comment(1, 3, 'Fire brigade called')]);
    await withApp(t, shell, async (page) => {
      await openTicket(page, 101);
      await until(async () => (await page.locator(tid('comment')).count()) === 1, 'loaded');
      await closeDrawer(page);

      shell.handle('comments', () => {
        throw commandError('network', 'the server cannot be reached');
      });
      shell.handle('attachments', () => {
        throw commandError('network', 'the server cannot be reached');
      });
      await openTicket(page, 101);
      await page.locator(tid('comments-offline')).waitFor();
      assert.match((await page.locator(tid('comments')).textContent()) ?? '', /Fire brigade called/);
      await closeDrawer(page);

      // Signed out and in again: nothing of the previous session is kept.
      await page.locator(tid('user-menu')).click();
      await page.locator(tid('sign-out')).click();
      await page.locator(tid('login-submit')).waitFor();
      await page.locator(tid('login-password')).fill('secret');
      await page.locator(tid('login-submit')).click();
      await page.locator(tid('card-101')).waitFor();
      await openTicket(page, 101);
      await page.locator(tid('comments-failed')).waitFor();
      assert.equal(await page.locator(tid('comment')).count(), 0);
    });
  });
});

describe('links', () => {
  test('links in the title and in comments open through the shell, not in the app', async (t) => {
    const shell = new FakeShell();
    shell.board.tickets[0].title = 'Printer on fire, see www.example.com/status.';
    shell.commentsByTicket.set(101, [comment(1, 3, 'Logs at https://logs.example.com/x?id=4 (and mailto:ops@example.com).')]);
    await withApp(t, shell, async (page) => {
      await openTicket(page, 101);
      await until(async () => (await page.locator(`${tid('comments')} ${tid('link')}`).count()) === 2, 'two links in the comment');
      const hrefs = await page.locator(tid('link')).evaluateAll((els) => els.map((e) => e.getAttribute('href')));
      assert.deepEqual(hrefs, ['https://www.example.com/status', 'https://logs.example.com/x?id=4', 'mailto:ops@example.com']);
      const before = page.url();
      await page.locator(`${tid('comments')} ${tid('link')}`).first().click();
      await until(() => shell.callsOf('open_link').length === 1, 'open_link called');
      assert.deepEqual(shell.callsOf('open_link')[0].args, { url: 'https://logs.example.com/x?id=4' });
      assert.equal(page.url(), before, 'the app did not navigate');
      await page.locator(`${tid('drawer-title')} ${tid('link')}`).click();
      await until(() => shell.callsOf('open_link').length === 2, 'the title link too');
    });
  });
});
