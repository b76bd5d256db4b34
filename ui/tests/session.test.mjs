// Signing in and out, the connection pill, preferences and themes.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  ADMIN, FakeShell, commandError, defaultSettings, session, tid, until, untilText, useApp,
} from './support.mjs';

const withApp = useApp({ before, after });

const pill = (page) => page.locator(tid('connection-pill'));

describe('sign-in', () => {
  test('the form is pre-filled from the settings; errors are explained', async (t) => {
    const shell = new FakeShell({ session: null });
    /** @type {[import('./support.mjs').CommandError, RegExp][]} */
    const errors = [
      [commandError('invalid_credentials', 'invalid credentials'), /^Wrong email or password$/],
      [commandError('invalid_url', 'relative URL without a base'), /is not a server address\. Type it like desk\.example\.com/],
      [commandError('network', 'connection refused'), /Could not reach the server at https:\/\/desk\.acme\.test/],
      [commandError('timeout', 'timed out'), /Could not reach the server at https:\/\/desk\.acme\.test: it did not answer in time/],
      [commandError('tls', 'a secure connection to the server could not be made (invalid peer certificate: UnknownIssuer)'),
        /^Could not make a secure connection to https:\/\/desk\.acme\.test: invalid peer certificate: UnknownIssuer\.$/],
      [commandError('not_deskbell', 'https://desk.acme.test/x is not a Deskbell address, but https://desk.acme.test is: use that one'),
        /^https:\/\/desk\.acme\.test\/x is not a Deskbell address, but https:\/\/desk\.acme\.test is: use that one\.$/],
      [commandError('internal', 'the database is on fire'), /The database is on fire/],
    ];
    let next = 0;
    shell.handle('login', () => {
      throw errors[next++][0];
    });
    await withApp(t, shell, async (page) => {
      await page.locator(tid('login')).waitFor();
      assert.equal(await page.locator(tid('login-server')).inputValue(), 'https://desk.acme.test');
      assert.equal(await page.locator(tid('login-email')).inputValue(), 'alex@acme.test');
      await until(() => page.evaluate(() => document.activeElement?.getAttribute('data-testid') === 'login-password'), 'the password focused');
      assert.equal(await page.locator(tid('board')).count(), 0);

      for (const [, want] of errors) {
        await page.locator(tid('login-password')).fill('secret');
        const before = shell.callsOf('login').length;
        await page.locator(tid('login-submit')).click();
        await until(() => shell.callsOf('login').length === before + 1, 'login called');
        await untilText(page.locator(tid('login-error')), want, `error ${want}`);
      }
      assert.deepEqual(shell.callsOf('login')[0].args, { server: 'https://desk.acme.test', email: 'alex@acme.test', password: 'secret' });
      assert.equal(await page.locator(tid('login-error')).getAttribute('role'), 'alert');
      assert.equal(shell.callsOf('board_view').length, 0);
    });
  });

  test('signing in shows the board; sign out in the user menu', async (t) => {
    const shell = new FakeShell({ session: null, settings: { ...defaultSettings(), lastServer: null, lastEmail: null } });
    await withApp(t, shell, async (page) => {
      await page.locator(tid('login-server')).fill('https://help.example.org');
      await page.locator(tid('login-email')).fill('alex@acme.test');
      await page.locator(tid('login-password')).fill('hunter2');
      await page.keyboard.press('Enter');
      await page.locator(tid('card-101')).waitFor();
      assert.deepEqual(shell.callsOf('login')[0].args, { server: 'https://help.example.org', email: 'alex@acme.test', password: 'hunter2' });
      assert.ok(shell.callsOf('board_view').length >= 1, 'the board view asked for');
      await untilText(pill(page), /Live/, 'the pill');

      await page.locator(tid('user-menu')).click();
      await page.locator(tid('sign-out')).click();
      await page.locator(tid('login')).waitFor();
      assert.equal(shell.callsOf('logout').length, 1);
      assert.equal(await page.locator(tid('board')).count(), 0);
      // The form remembers the last server and email.
      assert.equal(await page.locator(tid('login-server')).inputValue(), 'https://help.example.org');
    });
  });

  test('"Try the demo" calls start_demo; the store warning is shown', async (t) => {
    const shell = new FakeShell({ session: null });
    shell.handle('start_demo', (_a, s) => {
      s.session = { server: 'http://127.0.0.1:47000', user: { id: 2, companyId: 1, name: 'Alex Agent', email: 'agent1@acme.test', role: 'agent', active: true }, company: { id: 1, name: 'Acme Support', escalateAfterMinutes: 5 }, store: 'memory only', storeWarning: 'No keychain found: you will have to sign in again after a restart.', demo: true };
      return s.session;
    });
    await withApp(t, shell, async (page) => {
      await page.locator(tid('login-demo')).click();
      await page.locator(tid('card-101')).waitFor();
      assert.equal(shell.callsOf('start_demo').length, 1);
      await untilText(page.locator(tid('store-warning')), /No keychain found/, 'the store warning');
    });
  });
});

describe('connection pill', () => {
  test('Connecting, Live, Syncing, Reconnecting in N s (counting down) with Retry now, Offline', async (t) => {
    const shell = new FakeShell({ state: { state: 'connecting', attempt: 1, retryAt: null } });
    await withApp(t, shell, async (page) => {
      await untilText(pill(page), /Connecting/, 'connecting at first');
      assert.equal(await page.locator(tid('retry-now')).count(), 0);

      await shell.state({ state: 'syncing' });
      await untilText(pill(page), /Syncing/, 'syncing');
      await shell.state({ state: 'live' });
      await untilText(pill(page), /^\s*Live\s*$/, 'live');

      const retryAt = new Date(Date.now() + 4_500).toISOString();
      await shell.state({ state: 'connecting', attempt: 3, retryAt });
      const first = await untilText(pill(page), /Reconnecting in \d+ s/, 'the countdown');
      const n = Number((/(\d+) s/.exec(first) ?? [])[1]);
      assert.ok(n >= 3 && n <= 5, `about 4 s left (${n})`);
      // It counts down live.
      await untilText(pill(page), new RegExp(`Reconnecting in ${n - 1} s`), 'one second less', 3000);

      await page.locator(tid('retry-now')).click();
      await until(() => shell.callsOf('reconnect_now').length === 1, 'reconnect_now called');

      // An attempt under way.
      await shell.state({ state: 'connecting', attempt: 4, retryAt: null });
      await untilText(pill(page), /Reconnecting…/, 'reconnecting, no countdown');

      await shell.state({ state: 'offline', reason: 'stopped' });
      await untilText(pill(page), /Offline/, 'offline');
      await page.locator(tid('retry-now')).click();
      await until(() => shell.callsOf('reconnect_now').length === 2, 'reconnect_now again');
    });
  });

  test('needs-login: the sign-in form comes back with the reason; signing in again works', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).waitFor();
      // As the shell does it: the session goes first, then the state with the core's plain
      // reason, which the form says as it is.
      await shell.emit('deskbell://session', null);
      await shell.state({ state: 'needs-login', reason: 'Your account was deactivated by an administrator' });
      await page.locator(tid('login')).waitFor();
      await untilText(page.locator(tid('login-reason')), /^\s*Your account was deactivated by an administrator\.\s*$/, 'the reason');
      await untilText(pill(page), /Signed out/, 'the pill says Signed out');
      await page.locator(tid('login-password')).fill('again');
      await page.locator(tid('login-submit')).click();
      await page.locator(tid('card-101')).waitFor();
      assert.equal(shell.callsOf('login').length, 1);
      assert.ok(shell.callsOf('board_view').length >= 2, 'the board view asked for again after signing in again');
    });
  });

  test('the user\'s own sign-out shows no "you were signed out" reason', async (t) => {
    const shell = new FakeShell();
    shell.handle('logout', async (_a, s) => {
      await s.emit('deskbell://session', null);
      await s.state({ state: 'needs-login', reason: 'signed out' });
      return null;
    });
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).waitFor();
      await page.locator(tid('user-menu')).click();
      await page.locator(tid('sign-out')).click();
      await page.locator(tid('login')).waitFor();
      await until(() => shell.callsOf('logout').length === 1, 'logout called');
      assert.equal(await page.locator(tid('login-reason')).count(), 0);
    });
  });
});

describe('role change', () => {
  test('the core\'s new user changes what the app offers, without a new sign-in', async (t) => {
    const shell = new FakeShell({ session: session(ADMIN) });
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).waitFor();
      await untilText(page.locator(tid('filter-all')), /^\s*All\s*$/, 'an admin sees All');
      await until(() => shell.callsOf('users').length === 1, 'the users loaded for the admin');

      // Demoted: the core says so (and reloads the board by itself).
      shell.session = session({ ...ADMIN, role: 'agent' });
      await shell.desk({ kind: 'user', user: { ...ADMIN, role: 'agent' } });
      await untilText(page.locator(tid('filter-all')), /Mine \+ queue/, 'an agent sees Mine + queue');
      await page.locator(tid('user-menu')).click();
      await untilText(page.locator('.user-menu'), /Acme Support · Agent/, 'the menu says Agent');
      await page.keyboard.press('Escape');

      // Promoted again: the users are loaded again for the assignee lists.
      shell.session = session(ADMIN);
      await shell.desk({ kind: 'user', user: ADMIN });
      await untilText(page.locator(tid('filter-all')), /^\s*All\s*$/, 'an admin again');
      await until(() => shell.callsOf('users').length === 2, 'the users loaded again');
      assert.equal(shell.callsOf('login').length, 0, 'no sign-in');
      assert.equal(await page.locator(tid('login')).count(), 0);
    });
  });
});

describe('preferences', () => {
  test('changes are saved with set_settings; the theme applies at once', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).waitFor();
      const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      const light = await bg();

      await page.locator(tid('user-menu')).click();
      await page.locator(tid('open-preferences')).click();
      const dialog = page.locator(tid('preferences'));
      await dialog.waitFor();

      await page.locator(tid('pref-alerts-alsoCommentsOnMine')).check();
      await until(() => shell.callsOf('set_settings').length === 1, 'set_settings called');
      assert.deepEqual(shell.callsOf('set_settings')[0].args.settings, { ...defaultSettings(), alerts: { ...defaultSettings().alerts, level: 'alsoCommentsOnMine' } });

      await page.locator(tid('pref-dnd')).check();
      await until(() => shell.callsOf('set_settings').length === 2, 'dnd saved');
      assert.equal(shell.callsOf('set_settings')[1].args.settings.alerts.doNotDisturb, true);
      await page.locator(tid('pref-launch-at-login')).check();
      await until(() => shell.callsOf('set_settings').length === 3, 'launch at login saved');
      assert.equal(shell.callsOf('set_settings')[2].args.settings.launchAtLogin, true);
      await page.locator(tid('pref-close-to-tray')).uncheck();
      await until(() => shell.callsOf('set_settings').length === 4, 'close to tray saved');
      assert.equal(shell.callsOf('set_settings')[3].args.settings.closeToTray, false);

      await page.locator(tid('pref-theme-dark')).check();
      await until(() => shell.callsOf('set_settings').length === 5, 'theme saved');
      await until(() => page.evaluate(() => document.documentElement.dataset.theme === 'dark'), 'data-theme=dark');
      assert.notEqual(await bg(), light, 'the dark theme is applied');

      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'hidden' });
    });
  });

  test('settings changed outside the UI (the tray\'s Do not disturb) show in the dialog', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).waitFor();
      await page.locator(tid('user-menu')).click();
      await page.locator(tid('open-preferences')).click();
      assert.equal(await page.locator(tid('pref-dnd')).isChecked(), false);
      await shell.emit('deskbell://settings', { ...defaultSettings(), alerts: { ...defaultSettings().alerts, doNotDisturb: true } });
      await until(() => page.locator(tid('pref-dnd')).isChecked(), 'Do not disturb checked');
      assert.equal(shell.callsOf('set_settings').length, 0);
    });
  });

  test('the "system" theme follows prefers-color-scheme', async (t) => {
    const shell = new FakeShell();
    await withApp(t, shell, async (page) => {
      await page.locator(tid('card-101')).waitFor();
      const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.equal(dark, 'rgb(20, 23, 29)');
      await page.emulateMedia({ colorScheme: 'light' });
      await until(async () => (await page.evaluate(() => getComputedStyle(document.body).backgroundColor)) === 'rgb(243, 244, 247)', 'light background');
    }, { colorScheme: 'dark' });
  });
});
