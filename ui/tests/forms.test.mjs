// The sign-in form's focus, and validation messages that go once the field is fixed (sign-in,
// New ticket).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  FakeShell, defaultSettings, tid, until, untilText, useApp,
} from './support.mjs';

const withApp = useApp({ before, after });

const focused = (page) => page.evaluate(() => document.activeElement?.getAttribute('data-testid') ?? document.activeElement?.tagName ?? null);

describe('forms', () => {
  test('sign-in focuses Server when it is empty, else Email when it is empty', async (t) => {
    const settings = { ...defaultSettings(), lastServer: null, lastEmail: null };
    await withApp(t, new FakeShell({ session: null, settings }), async (page) => {
      await page.locator(tid('login')).waitFor();
      await until(async () => (await focused(page)) === 'login-server', 'Server focused');
    });
    const known = { ...defaultSettings(), lastEmail: null };
    await withApp(t, new FakeShell({ session: null, settings: known }), async (page) => {
      await page.locator(tid('login')).waitFor();
      await until(async () => (await focused(page)) === 'login-email', 'Email focused');
    });
  });

  test('a validation message goes as soon as the field is fixed (sign-in, New ticket)', async (t) => {
    const settings = { ...defaultSettings(), lastServer: null, lastEmail: null };
    const shell = new FakeShell({ session: null, settings });
    await withApp(t, shell, async (page) => {
      await page.locator(tid('login-submit')).click();
      await untilText(page.locator(tid('login-error')), /address of your Deskbell server/, 'the missing server');
      assert.equal(await page.locator(tid('login-server')).getAttribute('aria-invalid'), 'true');
      await page.locator(tid('login-server')).fill('https://desk.acme.test');
      await until(async () => (await page.locator(tid('login-error')).count()) === 0, 'the message gone');
      assert.equal(await page.locator(tid('login-server')).getAttribute('aria-invalid'), null);
      assert.equal(shell.callsOf('login').length, 0);
    });

    await withApp(t, new FakeShell(), async (page) => {
      await page.locator(tid('card-101')).waitFor();
      await page.locator(tid('new-ticket')).click();
      await page.locator(tid('new-ticket-submit')).click();
      await untilText(page.locator(tid('new-ticket-error')), /needs a title/, 'the missing title');
      await page.locator(tid('new-ticket-title')).fill('Something');
      await until(async () => (await page.locator(tid('new-ticket-error')).count()) === 0, 'the title message gone');
      await page.locator(tid('new-ticket-submit')).click();
      await untilText(page.locator(tid('new-ticket-error')), /requester needs a name/, 'the missing requester');
      assert.equal(await page.locator(tid('new-ticket-requester')).getAttribute('aria-invalid'), 'true');
      await page.locator(tid('new-ticket-requester')).fill('Paula');
      await until(async () => (await page.locator(tid('new-ticket-error')).count()) === 0, 'the requester message gone');
    });
  });
});
