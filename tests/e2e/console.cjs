/*
 * The console end to end, in Debian's Chromium driven by playwright-core,
 * headless, at 1366x768.  Run by tests/integration/test_console.py, which
 * starts PostgreSQL and incidentd and does what monitord would: this
 * script prints "CMD <what>" and waits for the test's "ok" on stdin.
 *
 * Asserted: a wrong password is refused on the page; the board shows a
 * fault injected by the test within its refresh; the page needs no
 * horizontal scrolling; the views are reached by keyboard; the incident
 * is acknowledged with the keyboard and carried through every phase to
 * closed (closing by the administrator); the host page draws its graphs;
 * a maintenance window is scheduled; the SLA page shows the month; the
 * language switches; the outsourcer sees none of it; no script error or
 * CSP violation on any page.  Screenshots go to $ARTIFACTS.
 */
'use strict';

const path = require('path');
const readline = require('readline');
const { chromium } = require(path.join(process.env.MODULES, 'playwright-core'));

const BASE = process.env.BASE;
const USERS = JSON.parse(process.env.USERS);
const ARTIFACTS = process.env.ARTIFACTS;
const errors = [];
const pages = [];

const lines = readline.createInterface({ input: process.stdin });
const waiting = [];
lines.on('line', (l) => { const w = waiting.shift(); if (w) w(l); });

function log(msg) {
	process.stdout.write('[e2e] ' + msg + '\n');
}

/* Asks the test to do something (record a fault...) and waits for it. */
function ask(what) {
	return new Promise((resolve, reject) => {
		waiting.push((l) => l === 'ok' ? resolve() :
		    reject(new Error(what + ': ' + l)));
		process.stdout.write('CMD ' + what + '\n');
	});
}

function check(cond, what) {
	if (!cond)
		throw new Error('failed: ' + what);
}

async function shot(page, name) {
	await page.screenshot({ path: path.join(ARTIFACTS, name + '.png') });
}

async function newPage(browser) {
	const ctx = await browser.newContext({
		viewport: { width: 1366, height: 768 },
		locale: 'ja-JP', timezoneId: 'Asia/Tokyo',
		ignoreHTTPSErrors: true,
	});
	const page = await ctx.newPage();
	pages.push(page);
	page.setDefaultTimeout(15000);
	page.on('pageerror', (e) => errors.push('page error: ' + e.message));
	page.on('console', (m) => {
		if (m.type() === 'error' && !/status of 4\d\d/.test(m.text()))
			errors.push('console: ' + m.text());
	});
	return page;
}

async function login(page, user, password) {
	await page.goto(BASE + '/');
	await page.fill('#login-user', user);
	await page.fill('#login-password', password);
	await page.press('#login-password', 'Enter');
}

/* The phase shown on the incident page. */
async function phase(page) {
	return (await page.textContent('#phase')).trim();
}

/* Moves the incident on, filling what the phase needs. */
async function advance(page, to, fill) {
	for (const [sel, value] of Object.entries(fill || {})) {
		const tag = await page.$eval(sel, (el) => el.tagName.toLowerCase());
		if (tag === 'select')
			await page.selectOption(sel, value);
		else
			await page.fill(sel, value);
	}
	const before = await phase(page);
	await page.click('[data-move="' + to + '"]');
	await page.waitForFunction((b) => {
		const el = document.getElementById('phase');
		return el && el.textContent.trim() !== b;
	}, before);
}

async function main() {
	const browser = await chromium.launch({
		executablePath: process.env.CHROMIUM, headless: true,
		args: JSON.parse(process.env.FENCE),
	});
	const page = await newPage(browser);

	log('a wrong password is refused on the page');
	await login(page, 'sato', 'not the password');
	await page.waitForSelector('[role=alert]:has-text("wrong user")');
	await shot(page, '01-login-refused');
	await page.waitForTimeout(300); /* the logins' rate limit */
	await login(page, 'sato', USERS.sato);
	await page.waitForSelector('#counts');
	const menu = await page.$$eval('header nav a',
	    (as) => as.map((a) => a.firstChild.textContent));
	check(JSON.stringify(menu) === JSON.stringify(
	    ['状況一覧', '障害', '問題管理', '計画停止', 'SLA']),
	'the menu is in Japanese, every item: ' + JSON.stringify(menu));
	check(await page.$('.tile >> text=zaimu-db01') !== null,
	    'zaimu-db01 is on the board');
	check(await page.$('.tile.s-CRITICAL >> text=zaimu-db01') === null,
	    'zaimu-db01 is not failing yet');

	log('a fault appears on the board by itself');
	await ask('fault');
	await page.waitForSelector('.tile.s-CRITICAL >> text=zaimu-db01',
	    { timeout: 25000 });
	const segs = await page.$$eval('section.seg', (s) =>
	    s.map((x) => x.dataset.segment));
	check(JSON.stringify(segs) === '["core","information","finance","lgwan"]',
	    'segments in order: ' + segs);
	check(await page.$('.behind >> text=joho-ap01') !== null ||
	    await page.$('.group >> text=joho-ap01') !== null,
	'the unreachable host is grouped under its root');
	const wide = await page.evaluate(() =>
	    document.documentElement.scrollWidth);
	check(wide <= 1366, 'no horizontal scrolling on the board: ' + wide);
	await shot(page, '02-board-fault');

	log('the keyboard: to the incidents, acknowledge with Enter');
	await page.keyboard.press('i');
	await page.waitForSelector('#incidents');
	const ack = '[data-ack]';
	await page.waitForSelector('tr:has-text("zaimu-db01") ' + ack);
	const ref = await page.$eval('tr:has-text("zaimu-db01") ' + ack,
	    (b) => b.dataset.ack);
	await page.focus('[data-ack="' + ref + '"]');
	await page.keyboard.press('Enter');
	await page.waitForSelector('tr[data-ref="' + ref + '"] >> text=sato');
	check(await page.$('tr[data-ref="' + ref + '"] .clock') !== null,
	    'the SLA clocks are shown');
	await shot(page, '03-incidents');
	check(await page.evaluate(() => document.documentElement.scrollWidth) <=
	    1366, 'no horizontal scrolling on the list');

	log('through every phase');
	await page.click('a:text("' + ref + '")');
	await page.waitForSelector('.stepper');
	check(await phase(page) === '障害検知', 'starts in detection');
	await advance(page, 'isolation');
	await advance(page, 'impact');
	await shot(page, '04-incident-impact');
	await advance(page, 'recovery', { '#f-urgency': '2' });
	await ask('recover');
	await page.reload();
	await page.waitForSelector('#f-countermeasure');
	await advance(page, 'record', {
		'#f-countermeasure': 'PostgreSQL を再起動し接続を確認',
	});
	await advance(page, 'permanent_fix', {
		'#f-cause': 'WAL 領域の枯渇',
		'#f-action': 'WAL を退避し領域を拡張',
	});
	await advance(page, 'manual_update', {
		'#f-fix_waiver': '監視閾値の追加で足りるため恒久措置は不要',
	});
	await page.fill('#note', '運用手順書の改訂は不要と判断');
	await page.click('#add-note');
	await page.waitForSelector('#history >> text=運用手順書の改訂は不要と判断');
	await page.fill('#f-manual_waiver', '手順に変更なし');
	await page.click('#save');
	await page.waitForSelector('#history >> text=手順に変更なし');
	check(await page.$('[data-move="closed"]') === null,
	    'an operator cannot close');
	check(await phase(page) === 'マニュアル整備', 'in manual update');
	await shot(page, '05-incident-manual-update');

	log('the host page draws its graphs');
	await page.click('dl.facts a');
	await page.waitForSelector('#charts svg.chart polyline');
	const n = await page.$$eval('#charts svg.chart', (s) => s.length);
	check(n === 2, 'two graphs, got ' + n);
	await page.click('[data-range="hour"]');
	await page.waitForSelector('[data-range="hour"][aria-pressed="true"]');
	await page.waitForSelector('#charts svg.chart polyline');
	await shot(page, '06-host');
	// the value axis: round steps in the metric's unit, none repeated
	const ticks = await page.$$eval('#charts > figure:first-child svg.chart ' +
	    'text[text-anchor="end"]', (t) => t.map((e) => e.textContent));
	check(ticks.includes('50%') && new Set(ticks).size === ticks.length,
	    'value ticks ' + ticks.join(' '));
	log('the year view: hourly bins, and this hour of samples in it');
	await page.click('[data-range="year"]');
	await page.waitForSelector('[data-range="year"][aria-pressed="true"]');
	await page.waitForSelector('#charts svg.chart :is(.line, .dot)');
	const years = await page.$$eval('#charts > figure:first-child svg.chart ' +
	    'text[text-anchor="middle"]', (t) => t.map((e) => e.textContent));
	check(years.length >= 5 && years.every((y) =>
	    /^(\d{4}\/\d\d|\d\d\/\d{4})$/.test(y)),
	    'month ticks ' + years.join(' '));
	await page.click('[data-range="hour"]');
	await page.waitForSelector('[data-range="hour"][aria-pressed="true"]');

	log('a maintenance window, scheduled');
	await page.keyboard.press('m');
	await page.waitForSelector('#mw-form');
	const iso = (ms) => new Date(ms + 9 * 3600e3).toISOString().slice(0, 16);
	await page.fill('#mw-name', '財務DB 定期パッチ');
	await page.fill('#mw-targets', 'hosts: zaimu-db01');
	await page.fill('#mw-starts', iso(Date.now() + 86400e3));
	await page.fill('#mw-ends', iso(Date.now() + 86400e3 + 7200e3));
	await page.click('#mw-form button[type=submit]');
	await page.waitForSelector('#windows >> text=財務DB 定期パッチ');
	await shot(page, '07-maintenance');

	log('the SLA page, and English');
	await page.keyboard.press('s');
	await page.waitForSelector('#sla >> text=zaimu-sla');
	await shot(page, '08-sla');
	await page.click('#lang');
	await page.waitForSelector('header nav >> text=Board');
	await page.waitForSelector('#sla >> text=Availability');
	await shot(page, '09-sla-english');
	await page.click('#lang');
	await page.waitForSelector('header nav >> text=状況一覧');
	await page.click('#logout');
	await page.waitForSelector('#login-user');

	log('the administrator closes it');
	await page.waitForTimeout(300);
	await login(page, 'kanri', USERS.kanri);
	await page.waitForSelector('#counts');
	await page.goto(BASE + '/#/incidents/' + Number(ref.slice(4)));
	await page.waitForSelector('[data-move="closed"]');
	await advance(page, 'closed');
	check(await phase(page) === '完了', 'closed');
	const done = await page.$$eval('.stepper li.done', (l) => l.length);
	check(done === 7, 'seven phases done, got ' + done);
	await shot(page, '10-closed');

	log('the outsourcer sees none of it');
	const vp = await newPage(browser);
	await page.waitForTimeout(300);
	await login(vp, 'vendor', USERS.vendor);
	await vp.waitForSelector('#counts');
	const hosts = await vp.$$eval('.tile .name', (l) =>
	    l.map((x) => x.textContent));
	check(JSON.stringify(hosts) === '["juki-ap01"]',
	    'the outsourcer sees its hosts only: ' + hosts);
	await vp.keyboard.press('i');
	await vp.waitForSelector('text=該当する障害はありません');
	await vp.goto(BASE + '/#/incidents/' + Number(ref.slice(4)));
	await vp.waitForSelector('.error');
	await shot(vp, '11-outsourcer');

	check(errors.length === 0, 'no errors in the pages: ' +
	    errors.join('; '));
	await browser.close();
	log('ok');
}

main().then(() => process.exit(0), async (e) => {
	process.stdout.write('[e2e] ' + (e.stack || e) + '\n');
	for (const [i, p] of pages.entries()) {
		try {
			await shot(p, 'failed-' + i);
			process.stdout.write('[e2e] page ' + i + ' at ' + p.url() +
			    ': ' + (await p.textContent('#toast')) + '\n');
		} catch (err) {
			/* the page is gone: nothing to show */
		}
	}
	if (errors.length)
		process.stdout.write('[e2e] page errors: ' + errors.join('; ') +
		    '\n');
	process.exit(1);
});
