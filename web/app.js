/*
 * The operators' console: one page over incidentd's JSON API.  No
 * framework and nothing from outside (the network is closed): the DOM is
 * built with h(), text always goes in as text, never as HTML.  Views are
 * chosen by the URL's fragment (#/board, #/incidents/42 ...) and the
 * board and lists refresh themselves every 10 seconds.
 */
'use strict';

const S = {
	me: null,
	lang: localStorage.getItem('incidentd.lang') ||
	    (navigator.language.startsWith('ja') ? 'ja' : 'en'),
	timer: null,
	view: '',
	tz: 'Asia/Tokyo',
};

const REFRESH_MS = 10000;

/* The text of key in the chosen language, with {0}, {1} filled in. */
function t(key, ...args) {
	let s = (I18N[S.lang] && I18N[S.lang][key]) || I18N.en[key] || key;
	args.forEach((v, i) => { s = s.split('{' + i + '}').join(String(v)); });
	return s;
}

/* An element: h('a', {href: '#/'}, 'text', child...).  Attributes whose
 * value is null or false are left out; on* attributes are listeners. */
function h(tag, attrs, ...kids) {
	const svg = ['svg', 'path', 'polyline', 'polygon', 'line', 'text',
	    'rect', 'g', 'title', 'circle'].includes(tag);
	const el = svg ?
	    document.createElementNS('http://www.w3.org/2000/svg', tag) :
	    document.createElement(tag);
	for (const [k, v] of Object.entries(attrs || {})) {
		if (v === null || v === undefined || v === false)
			continue;
		if (k.startsWith('on'))
			el.addEventListener(k.slice(2), v);
		else if (k === 'value' && !svg)
			el.value = v;
		else
			el.setAttribute(k, v === true ? '' : v);
	}
	for (const kid of kids.flat(Infinity)) {
		if (kid === null || kid === undefined || kid === false)
			continue;
		el.append(kid instanceof Node ? kid : document.createTextNode(
		    String(kid)));
	}
	return el;
}

class ApiError extends Error {
	constructor(status, msg) {
		super(msg);
		this.status = status;
	}
}

/* One API request; resolves to the answer's JSON, rejects with ApiError. */
async function api(method, path, body) {
	const opt = { method, headers: {}, credentials: 'same-origin' };
	if (method !== 'GET') {
		opt.headers['X-CSRF-Token'] = S.me ? S.me.csrf : '';
		if (body !== undefined) {
			opt.headers['Content-Type'] = 'application/json';
			opt.body = JSON.stringify(body);
		}
	}
	let r;
	try {
		r = await fetch(path, opt);
	} catch (e) {
		throw new ApiError(0, t('err.network'));
	}
	let j = null;
	try {
		j = await r.json();
	} catch (e) {
		j = null;
	}
	if (r.status === 401 && !path.endsWith('/login')) {
		S.me = null;
		showLogin();
		throw new ApiError(401, t('login.needed'));
	}
	if (!r.ok)
		throw new ApiError(r.status, (j && j.error) || r.statusText);
	return j;
}

function toast(msg, bad) {
	const el = document.getElementById('toast');
	el.textContent = msg;
	el.className = 'show' + (bad ? ' bad' : '');
	clearTimeout(toast.timer);
	toast.timer = setTimeout(() => { el.className = ''; }, bad ? 8000 : 3500);
}

/* Runs a change; tells how it went; true if it was made. */
async function act(fn, done) {
	try {
		await fn();
		if (done)
			toast(done);
		return true;
	} catch (e) {
		if (e.status !== 401)
			toast(e.message, true);
		return false;
	}
}

/* A time in the department's time zone: 2026/11/27 10:05. */
function fmtTime(iso) {
	if (!iso)
		return '';
	return new Intl.DateTimeFormat(S.lang === 'ja' ? 'ja-JP' : 'en-GB', {
		timeZone: S.tz, year: 'numeric', month: '2-digit',
		day: '2-digit', hour: '2-digit', minute: '2-digit',
	}).format(new Date(iso));
}

/* A duration in seconds: 3d 4h, 2h 05m, 12m. */
function fmtDur(s) {
	if (s === null || s === undefined)
		return '–';
	s = Math.max(0, Math.round(s));
	const d = Math.floor(s / 86400), hh = Math.floor(s % 86400 / 3600);
	const m = Math.floor(s % 3600 / 60);
	if (d > 0)
		return t('dur.dh', d, hh);
	if (hh > 0)
		return t('dur.hm', hh, String(m).padStart(2, '0'));
	return t('dur.m', m);
}

function ageOf(iso) {
	return fmtDur((Date.now() - new Date(iso).getTime()) / 1000);
}

function phaseName(p) {
	return t('phase.' + p);
}

function segName(s) {
	return I18N[S.lang]['seg.' + s] ? t('seg.' + s) : s;
}

function stateBadge(state) {
	return h('span', { class: 'badge s-' + state }, t('state.' + state));
}

function prioBadge(p) {
	return p ? h('span', { class: 'badge p' + p }, 'P' + p) :
	    h('span', { class: 'muted' }, '–');
}

function mayChange() {
	return S.me && S.me.role !== 'viewer';
}

/* The offset of the department's time zone at a moment, as +09:00. */
function zoneOffset(date) {
	const name = new Intl.DateTimeFormat('en-US', { timeZone: S.tz,
	    timeZoneName: 'longOffset' }).formatToParts(date)
	    .find((p) => p.type === 'timeZoneName').value;
	const m = /([+-]\d\d):?(\d\d)/.exec(name);
	return m ? m[1] + ':' + m[2] : '+00:00';
}

/* A datetime-local value as a time in the department's zone. */
function localToIso(v) {
	if (!v)
		return null;
	/* the offset of about then: right but within an hour of a change */
	return v + ':00' + zoneOffset(new Date(v + ':00Z'));
}

function isoToLocal(iso) {
	if (!iso)
		return '';
	const d = new Date(iso);
	const [, sign, hh, mm] = /([+-])(\d\d):(\d\d)/.exec(zoneOffset(d));
	const off = (sign === '-' ? -1 : 1) * (Number(hh) * 60 + Number(mm));
	return new Date(d.getTime() + off * 60000).toISOString().slice(0, 16);
}

/* ---- Logging in ---- */

function showLogin(msg) {
	stopRefresh();
	document.getElementById('top').hidden = true;
	const err = h('p', { class: 'error', role: 'alert' }, msg || '');
	const user = h('input', { id: 'login-user', name: 'user',
	    autocomplete: 'username', required: true });
	const pw = h('input', { id: 'login-password', name: 'password',
	    type: 'password', autocomplete: 'current-password',
	    required: true });
	const form = h('form', { class: 'panel login', onsubmit: async (ev) => {
		ev.preventDefault();
		try {
			S.me = await api('POST', '/api/v1/login',
			    { user: user.value, password: pw.value });
			S.tz = S.me.timezone || S.tz;
			pw.value = '';
			start();
		} catch (e) {
			err.textContent = e.message;
			pw.select();
		}
	} },
	h('h1', null, t('login.title')),
	h('label', { for: 'login-user' }, t('login.user')), user,
	h('label', { for: 'login-password' }, t('login.password')), pw,
	h('p', null, h('button', { class: 'primary', type: 'submit' },
	    t('login.submit')), ' ',
	    h('button', { type: 'button', onclick: toggleLang }, t('lang.other'))),
	err);
	const main = document.getElementById('main');
	main.replaceChildren(form);
	user.focus();
}

function toggleLang() {
	S.lang = S.lang === 'ja' ? 'en' : 'ja';
	localStorage.setItem('incidentd.lang', S.lang);
	document.documentElement.lang = S.lang;
	if (S.me)
		start();
	else
		showLogin();
}

/* ---- The frame ---- */

const VIEWS = [
	['board', 'b'], ['incidents', 'i'], ['problems', 'p'],
	['maintenance', 'm'], ['sla', 's'],
];

function frame() {
	const top = document.getElementById('top');
	top.hidden = false;
	document.getElementById('nav').replaceChildren(...VIEWS.map(([v, k]) =>
	    h('a', { href: '#/' + v, 'data-view': v },
		t('nav.' + v), h('kbd', null, k))));
	document.getElementById('who').textContent = t('who', S.me.display_name ||
	    S.me.user, t('role.' + S.me.role));
	const lang = document.getElementById('lang');
	lang.textContent = t('lang.other');
	lang.onclick = toggleLang;
	const out = document.getElementById('logout');
	out.textContent = t('logout');
	out.onclick = async () => {
		await act(() => api('POST', '/api/v1/logout'));
		S.me = null;
		showLogin();
	};
	document.getElementById('skip').textContent = t('skip');
	document.documentElement.lang = S.lang;
}

function stopRefresh() {
	clearInterval(S.timer);
	S.timer = null;
}

/* Shows a view; refresh, if given, runs every REFRESH_MS while it stays. */
function show(title, nodes, refresh) {
	const main = document.getElementById('main');
	const keep = document.activeElement && main.contains(
	    document.activeElement) ? document.activeElement.id : null;
	main.replaceChildren(h('h1', { id: 'title' }, title),
	    ...nodes.filter((n) => n !== null && n !== undefined && n !== false));
	document.title = title + ' – incidentd';
	if (keep && document.getElementById(keep))
		document.getElementById(keep).focus();
	stopRefresh();
	if (refresh)
		S.timer = setInterval(refresh, REFRESH_MS);
}

async function route(quiet) {
	if (!S.me)
		return;
	const parts = location.hash.replace(/^#\/?/, '').split('/')
	    .map(decodeURIComponent);
	const view = parts[0] || 'board';
	for (const a of document.querySelectorAll('#nav a'))
		a.setAttribute('aria-current', a.dataset.view === view ? 'page' :
		    'false');
	const first = S.view !== location.hash;
	S.view = location.hash;
	try {
		if (view === 'board')
			await viewBoard();
		else if (view === 'incidents' && parts[1])
			await viewIncident(parts[1]);
		else if (view === 'incidents')
			await viewIncidents();
		else if (view === 'hosts' && parts[1])
			await viewHost(parts[1]);
		else if (view === 'problems')
			await viewProblems();
		else if (view === 'maintenance')
			await viewMaintenance();
		else if (view === 'sla')
			await viewSla();
		else
			show(t('notfound'), []);
	} catch (e) {
		if (e.status !== 401)
			show(t('error'), [h('p', { class: 'error' }, e.message)]);
	}
	if (first && !quiet) {
		window.scrollTo(0, 0);
		document.getElementById('main').focus({ preventScroll: true });
	}
}

async function start() {
	frame();
	await route();
}

/* Single keys move between views, outside of fields. */
document.addEventListener('keydown', (ev) => {
	if (ev.ctrlKey || ev.metaKey || ev.altKey || !S.me)
		return;
	const tag = (ev.target.tagName || '').toLowerCase();
	if (['input', 'textarea', 'select'].includes(tag))
		return;
	const v = VIEWS.find(([, k]) => k === ev.key);
	if (v) {
		location.hash = '#/' + v[0];
		ev.preventDefault();
	}
});

window.addEventListener('hashchange', () => route());

/* ---- The board ---- */

function countBox(label, n, bad) {
	return h('div', { class: 'count' + (bad && n > 0 ? ' bad' : '') },
	    h('b', null, n), label);
}

function hostTile(host, kids) {
	const shown = host.host_state === 'DOWN' ||
	    host.host_state === 'UNREACHABLE' ? host.host_state : host.state;
	return h('a', { class: 'tile s-' + shown, href: '#/hosts/' +
	    encodeURIComponent(host.host), title: host.host + ': ' +
	    t('state.' + shown) },
	h('span', { class: 'name' }, host.host),
	h('span', { class: 'sub' }, t('state.' + shown),
	    host.problems > 0 ? ' · ' + t('board.problems', host.problems) : '',
	    host.downtime ? ' · ' + t('board.maint') : ''),
	kids && kids.length ? h('div', { class: 'behind' },
	    t('board.behind_here', kids.length), ': ',
	    kids.map((k, i) => [i ? ', ' : '', h('a', { href: '#/hosts/' +
		encodeURIComponent(k.host) }, k.host)])) : null);
}

async function viewBoard() {
	const b = await api('GET', '/api/v1/board');
	const c = b.counts;
	const counts = h('div', { class: 'counts', id: 'counts' },
	    countBox(t('count.incidents'), b.incidents.open, true),
	    countBox(t('count.unack'), b.incidents.unacknowledged, true),
	    countBox(t('count.hosts'), c.hosts),
	    countBox(t('count.down'), c.down, true),
	    countBox(t('count.unreachable'), c.unreachable, true),
	    countBox(t('count.critical'), c.critical, true),
	    countBox(t('count.warning'), c.warning, true),
	    countBox(t('count.ok'), c.ok));
	const panels = b.segments.map((seg) => {
		const names = new Set(seg.hosts.map((x) => x.host));
		const under = {};
		const away = {};
		for (const x of seg.hosts) {
			if (!x.behind)
				continue;
			const into = names.has(x.behind) ? under : away;
			(into[x.behind] = into[x.behind] || []).push(x);
		}
		const tiles = seg.hosts.filter((x) => !x.behind).map((x) =>
		    hostTile(x, under[x.host]));
		for (const [root, kids] of Object.entries(away))
			tiles.push(h('div', { class: 'group' },
			    h('span', { class: 'muted' }, t('board.behind', root)),
			    h('div', { class: 'tiles' },
				kids.map((k) => hostTile(k)))));
		const sc = seg.counts;
		return h('section', { class: 'panel seg', 'data-segment':
		    seg.segment, 'aria-label': segName(seg.segment) },
		h('h2', null, h('span', null, segName(seg.segment)),
		    h('span', { class: 'muted' }, t('board.segcounts', sc.hosts,
			sc.critical + sc.warning + sc.unknown))),
		h('div', { class: 'tiles' }, tiles));
	});
	show(t('nav.board'), [counts, h('div', { class: 'board' },
	    panels.length ? panels : h('p', { class: 'muted' }, t('board.empty'))),
	h('p', { class: 'muted' }, t('updated', fmtTime(b.now)))],
	() => route(true));
}

/* ---- Incidents ---- */

/* The tightest of an incident's clocks of one kind (tto or ttr). */
function clockCell(inc, which) {
	const all = inc.clocks || [];
	const cl = all.filter((c) => c[which + '_target_s']);
	if (!all.length)
		return h('td', { class: 'muted' }, '–');
	if (!cl.length) /* no priority yet: the time so far, no target */
		return h('td', { class: 'clock', title: t('clock.notarget') },
		    (all[0][which === 'tto' ? 'acknowledged' : 'restored'] ?
			'✓ ' : '') + fmtDur(all[0][which + '_s']) + ' / –');
	const worst = cl.reduce((a, c) => c[which + '_s'] / c[which +
	    '_target_s'] > a[which + '_s'] / a[which + '_target_s'] ? c : a);
	const s = worst[which + '_s'], target = worst[which + '_target_s'];
	const done = which === 'tto' ? worst.acknowledged : worst.restored;
	const ratio = s / target;
	return h('td', { class: 'clock', title: worst.agreement },
	    h('span', { class: ratio > 1 ? 'over' : null },
		(done ? '✓ ' : '') + fmtDur(s) + ' / ' + fmtDur(target)),
	    h('span', { class: 'bar' + (ratio > 1 ? ' over' : ratio > .75 ?
		' warn' : '') }, h('i', { style: null,
		'data-w': Math.min(100, Math.round(ratio * 100)) })));
}

/* Bars take their width from data-w: the CSP allows no style attribute. */
function sizeBars(root) {
	for (const i of root.querySelectorAll('.bar i[data-w]'))
		i.style.width = i.dataset.w + '%';
}

function incidentRow(inc) {
	const open = () => { location.hash = '#/incidents/' + inc.id; };
	return h('tr', { class: 'clickable', 'data-ref': inc.ref },
	    h('td', null, h('a', { href: '#/incidents/' + inc.id }, inc.ref)),
	    h('td', null, prioBadge(inc.priority)),
	    h('td', null, inc.status === 'open' ? stateBadge(inc.severity) :
		h('span', { class: 'badge s-OK' }, t('status.recovered'))),
	    h('td', null, phaseName(inc.phase)),
	    h('td', { onclick: open }, inc.host, h('br'),
		h('span', { class: 'muted' }, inc.check)),
	    h('td', null, segName(inc.segment)),
	    h('td', { title: fmtTime(inc.detected_at) }, ageOf(inc.detected_at)),
	    clockCell(inc, 'tto'), clockCell(inc, 'ttr'),
	    h('td', null, inc.acknowledged_by ? inc.acknowledged_by :
		mayChange() && inc.phase !== 'closed' ? h('button', {
		    class: 'primary', 'data-ack': inc.ref,
		    onclick: async () => {
			if (await act(() => api('POST', '/api/v1/incidents/' +
			    inc.id + '/ack'), t('acked', inc.ref)))
				route(true);
		    } }, t('ack')) : '–'),
	    h('td', null, inc.assignee || '–'));
}

async function viewIncidents() {
	const status = sessionStorage.getItem('incidentd.status') || 'open';
	const l = await api('GET', '/api/v1/incidents?status=' + status +
	    '&limit=200');
	const sel = h('select', { id: 'status-filter', onchange: (ev) => {
		sessionStorage.setItem('incidentd.status', ev.target.value);
		route(true);
	} }, ['open', 'closed', 'all'].map((s) => h('option', { value: s,
	    selected: s === status }, t('filter.' + s))));
	const heads = ['ref', 'prio', 'state', 'phase', 'host', 'segment', 'age',
	    'tto', 'ttr', 'acked', 'assignee'];
	const table = h('table', { id: 'incidents' },
	    h('thead', null, h('tr', null, heads.map((k) => h('th', null,
		t('col.' + k))))),
	    h('tbody', null, l.incidents.map(incidentRow)));
	const nodes = [h('div', { class: 'row' }, h('label', { for:
	    'status-filter' }, t('filter')), sel,
	    h('span', { class: 'muted' }, t('list.total', l.total)),
	    mayChange() && S.me.role !== 'outsourcer' ? h('button', {
		onclick: () => openManualForm(nodesEl) }, t('open.manual')) :
		null)];
	const nodesEl = h('div');
	nodes.push(nodesEl, l.incidents.length ? table :
	    h('p', { class: 'muted' }, t('list.none')));
	show(t('nav.incidents'), nodes, () => route(true));
	sizeBars(document.getElementById('main'));
}

function openManualForm(into) {
	const summary = h('input', { id: 'manual-summary', size: 50 });
	const host = h('input', { id: 'manual-host' });
	const by = h('input', { id: 'manual-reported' });
	into.replaceChildren(h('form', { class: 'panel', onsubmit: async (ev) => {
		ev.preventDefault();
		let inc;
		if (await act(async () => {
			inc = await api('POST', '/api/v1/incidents', {
			    summary: summary.value, host: host.value,
			    reported_by: by.value });
		}))
			location.hash = '#/incidents/' + inc.id;
	} },
	h('h2', null, t('open.manual')),
	h('label', { for: 'manual-summary' }, t('field.summary')), summary,
	h('label', { for: 'manual-host' }, t('col.host')), host,
	h('label', { for: 'manual-reported' }, t('reported_by')), by,
	h('p', null, h('button', { class: 'primary', type: 'submit' },
	    t('open.submit')))));
	summary.focus();
}

/* An input for a lifecycle field of the given type. */
function fieldInput(f, problems) {
	const id = 'f-' + f.field;
	const v = f.value;
	if (f.type === 'smallint')
		return h('select', { id, name: f.field }, h('option', { value: '' },
		    '–'), [1, 2, 3].map((n) => h('option', { value: String(n),
		    selected: v === n }, n + ' ' + t('level.' + n))));
	if (f.type === 'bigint')
		return h('select', { id, name: f.field }, h('option', { value: '' },
		    '–'), problems.map((p) => h('option', { value: String(p.id),
		    selected: v === p.id }, p.ref + ' ' + p.title)));
	if (f.type === 'timestamptz')
		return h('input', { id, name: f.field, type: 'datetime-local',
		    value: isoToLocal(v) });
	if (f.type === 'text[]')
		return h('input', { id, name: f.field, size: 40,
		    value: (v || []).join(', '), placeholder: t('comma') });
	if (['cause', 'action', 'countermeasure'].includes(f.field))
		return h('textarea', { id, name: f.field, value: v || '' }, v || '');
	return h('input', { id, name: f.field, size: 40, value: v || '' });
}

/* The form's values that differ from the incident's. */
function formChanges(form, fields) {
	const out = {};
	for (const f of fields) {
		const el = form.querySelector('[name="' + f.field + '"]');
		if (!el)
			continue;
		let v = el.value.trim();
		if (f.type === 'smallint' || f.type === 'bigint')
			v = v === '' ? null : Number(v);
		else if (f.type === 'timestamptz')
			v = localToIso(v);
		else if (f.type === 'text[]')
			v = v === '' ? [] : v.split(/\s*[,、]\s*/).filter((x) => x);
		else if (v === '')
			v = null;
		const old = f.value === undefined ? null : f.value;
		const same = f.type === 'timestamptz' ?
		    (v === null) === (old === null) && (v === null ||
			isoToLocal(v) === isoToLocal(old)) :
		    JSON.stringify(v) === JSON.stringify(old) ||
		    (f.type === 'text[]' && v.length === 0 && old === null);
		if (!same)
			out[f.field] = v;
	}
	return out;
}

function facts(pairs) {
	return h('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== null &&
	    v !== undefined && v !== '').map(([k, v]) => [h('dt', null, k),
	    h('dd', null, v)]));
}

async function viewIncident(id) {
	const inc = await api('GET', '/api/v1/incidents/' + encodeURIComponent(id));
	const probs = inc.form.some((f) => f.type === 'bigint') ?
	    (await api('GET', '/api/v1/problems')).problems : [];
	const url = '/api/v1/incidents/' + inc.id;
	const reload = () => route(true);
	const seqOf = (p) => inc.phases.findIndex((x) => x.phase === p);
	const stepper = h('ol', { class: 'stepper', 'aria-label':
	    t('lifecycle') }, inc.phases.map((p) => h('li', {
		class: seqOf(p.phase) < seqOf(inc.phase) ? 'done' : null,
		'aria-current': p.phase === inc.phase ? 'step' : null },
	    S.lang === 'ja' ? p.name_ja : p.name_en)));
	const reason = h('input', { id: 'reason', size: 40 });
	const form = h('form', { id: 'phase-form', onsubmit: (ev) =>
	    ev.preventDefault() },
	inc.form.map((f) => [h('label', { for: 'f-' + f.field, class:
	    f.missing ? 'missing' : null }, S.lang === 'ja' ? f.label_ja :
	    f.label_en), fieldInput(f, probs)]));
	const send = async (to) => {
		const body = { fields: formChanges(form, inc.form) };
		if (reason.value.trim())
			body.reason = reason.value.trim();
		if (to) {
			body.to = to;
			body.expect = inc.phase;
		}
		if (await act(() => api('POST', url + (to ? '/advance' : '/fields'),
		    body), to ? t('moved', inc.ref, phaseName(to)) : t('saved')))
			reload();
	};
	const moves = inc.moves.map((m) => h('button', {
		class: m.kind === 'forward' ? 'primary' : null,
		'data-move': m.to, onclick: () => send(m.to) },
	(m.kind === 'forward' ? '→ ' : m.kind === 'back' ? '← ' : '↺ ') +
	    phaseName(m.to)));
	const work = inc.may_change && inc.phase !== 'closed' ? h('section',
	    { class: 'panel', id: 'phase-panel' },
	h('h2', null, t('phase.form', phaseName(inc.phase))),
	inc.form.length ? form : h('p', { class: 'muted' }, t('phase.nofields')),
	inc.missing.length ? h('p', { class: 'muted', id: 'missing' },
	    t('missing', inc.missing.join(', '))) : null,
	h('label', { for: 'reason' }, t('reason')), reason,
	h('div', { class: 'row' }, inc.form.length ? h('button', { id: 'save',
	    onclick: () => send(null) }, t('save')) : null, moves)) :
	inc.may_change && inc.moves.length ? h('section', { class: 'panel' },
	    h('label', { for: 'reason' }, t('reason')), reason,
	    h('div', { class: 'row' }, moves)) : null;

	const clocks = inc.clocks.length ? h('table', null, h('tr', null,
	    ['agreement', 'tto', 'ttr'].map((k) => h('th', null, t('col.' + k)))),
	inc.clocks.map((c) => h('tr', null, h('td', null, c.agreement,
	    ' (' + c.kind.toUpperCase() + ')'),
	['tto', 'ttr'].map((w) => h('td', { class: c[w + '_target_s'] &&
	    c[w + '_s'] > c[w + '_target_s'] ? 'over' : null },
	(c[w === 'tto' ? 'acknowledged' : 'restored'] ? '✓ ' : '') +
	    fmtDur(c[w + '_s']) + ' / ' + fmtDur(c[w + '_target_s'])))))) :
	    h('p', { class: 'muted' }, t('clocks.none'));

	const side = [];
	if (inc.may_change && inc.phase !== 'closed') {
		const who = h('input', { id: 'assignee', value: inc.assignee || '' });
		const kind = h('select', { id: 'assignee-kind' }, ['person', 'team',
		    'outsourcer'].map((k) => h('option', { value: k, selected:
		    k === (inc.assignee_kind || 'person') }, t('kind.' + k))));
		const running = inc.pauses.find((p) => !p.ended_at);
		const party = h('select', { id: 'pause-party' }, ['department',
		    'in-house', 'outsourcer'].map((p) => h('option', { value: p },
		    t('party.' + p))));
		const why = h('input', { id: 'pause-reason' });
		side.push(h('section', { class: 'panel' },
		    h('h2', null, t('actions')),
		    h('div', { class: 'row' }, inc.acknowledged_at ? null :
			h('button', { class: 'primary', id: 'ack', onclick: async () => {
			    if (await act(() => api('POST', url + '/ack'),
				t('acked', inc.ref)))
				    reload();
			} }, t('ack'))),
		    h('label', { for: 'assignee' }, t('assignee')),
		    h('div', { class: 'row' }, who, kind, h('button', { id:
			'assign', onclick: async () => {
			    if (await act(() => api('POST', url + '/assign', {
				assignee: who.value, kind: kind.value,
				reason: reason.value.trim() || null }),
				t('assigned', who.value)))
				    reload();
			} }, t('assign'))),
		    running ? h('p', null, t('paused', t('party.' + running.party),
			fmtTime(running.started_at)), ' ', h('button', { id: 'resume',
			onclick: async () => {
			    if (await act(() => api('POST', url + '/resume')))
				    reload();
			} }, t('resume'))) :
			[h('label', { for: 'pause-party' }, t('pause.wait')),
			    h('div', { class: 'row' }, party, why, h('button', {
				id: 'pause', onclick: async () => {
				    if (await act(() => api('POST', url +
					'/pause', { party: party.value,
					reason: why.value })))
					    reload();
				} }, t('pause')))]));
	}
	side.push(h('section', { class: 'panel' }, h('h2', null, t('clocks')),
	    clocks));
	side.push(h('section', { class: 'panel' }, h('h2', null, t('impact')),
	    inc.services.length ? h('ul', null, inc.services.map((s) => h('li',
		null, s.title + ' (' + s.name + ')',
		s.departments.length ? ': ' + s.departments.join('、') : ''))) :
		h('p', { class: 'muted' }, '–'),
	    inc.problem ? h('p', null, t('problem') + ': ', h('a', { href:
		'#/problems' }, inc.problem.ref + ' ' + inc.problem.title)) :
		inc.suggested_problem ? h('p', { class: 'muted' },
		    t('problem.suggested', inc.suggested_problem.ref + ' ' +
			inc.suggested_problem.title)) : null));
	if (inc.children.length)
		side.push(h('section', { class: 'panel' }, h('h2', null,
		    t('children', inc.children.length)), h('ul', null,
		    inc.children.map((c) => h('li', null, c.host + ' ' + c.check +
			' ', stateBadge(c.host_state || c.state))))));

	const note = h('textarea', { id: 'note' });
	const hist = h('table', { class: 'history', id: 'history' },
	    h('tr', null, ['at', 'who', 'what', 'detail'].map((k) => h('th', null,
		t('col.' + k)))),
	    inc.history.map((e) => h('tr', null,
		h('td', null, fmtTime(e.at)),
		h('td', null, e.actor, h('span', { class: 'muted' }, ' (' +
		    t('role.' + e.role) + ')')),
		h('td', null, t('what.' + e.what)),
		h('td', null, e.what === 'note' ? e.to :
		    e.what === 'field' ? (I18N.fieldName(e.field, S.lang) + ': ' +
			fmtVal(e.from) + ' → ' + fmtVal(e.to)) :
		    e.what === 'phase' ? phaseName(e.from) + ' → ' +
			phaseName(e.to) :
		    e.what === 'opened' ? phaseName(e.to) :
		    fmtVal(e.from) + ' → ' + fmtVal(e.to),
		e.reason ? h('span', { class: 'muted' }, ' — ' + e.reason) :
		    null))));
	const main = [
		h('div', { class: 'row' }, prioBadge(inc.priority),
		    inc.status === 'open' ? stateBadge(inc.severity) :
			h('span', { class: 'badge s-OK' }, t('status.recovered')),
		    h('span', { id: 'phase' }, phaseName(inc.phase)),
		    inc.silenced_by ? h('span', { class: 'muted' },
			t('silenced', inc.silenced_by)) : null),
		stepper,
		h('div', { class: 'cols' }, h('div', null,
		    h('section', { class: 'panel' }, facts([
			[t('col.host'), h('a', { href: '#/hosts/' +
			    encodeURIComponent(inc.host) }, inc.host)],
			[t('col.check'), inc.check],
			[t('col.segment'), segName(inc.segment)],
			[t('detected'), fmtTime(inc.detected_at)],
			[t('col.acked'), inc.acknowledged_by ?
			    inc.acknowledged_by + ' ' +
			    fmtTime(inc.acknowledged_at) : null],
			[t('assignee'), inc.assignee ? inc.assignee + ' (' +
			    t('kind.' + inc.assignee_kind) + ')' : null],
			[t('recovered'), fmtTime(inc.recovered_at)],
			[t('field.impact') + ' / ' + t('field.urgency'),
			    (inc.fields.impact || '–') + ' / ' +
			    (inc.fields.urgency || '–')],
		    ])),
		    work,
		    h('section', { class: 'panel' }, h('h2', null, t('history')),
			hist,
			inc.may_change ? [h('label', { for: 'note' }, t('note')),
			    note, h('p', null, h('button', { id: 'add-note',
				onclick: async () => {
				    if (await act(() => api('POST', url + '/notes',
					{ body: note.value }), t('noted')))
					    reload();
				} }, t('note.add')))] : null)),
		h('div', null, side)),
	];
	show(inc.ref + ' ' + inc.summary, main);
}

function fmtVal(v) {
	if (v === null || v === undefined)
		return '–';
	if (Array.isArray(v))
		return v.join(', ');
	if (typeof v === 'string' && /^\d{4}-\d\d-\d\dT/.test(v))
		return fmtTime(v);
	return String(v);
}

/* ---- Hosts and their graphs ---- */

/* The unit a metric's name gives: "rta[ms]", "time[s]", "load_pct",
 * "in_bps", "used_bytes", a plugin's "size[KB]"; null for a plain
 * number.  The scale turns values into the base unit. */
function metricUnit(name) {
	const m = /\[([^\]]*)\]$/.exec(name);
	const uom = m ? m[1] : (/_(ms|s|us|pct|bps|bytes)$/.exec(name) ||
	    [])[1];
	switch (uom) {
	case 'us': return { kind: 'time', scale: 1e-6 };
	case 'ms': return { kind: 'time', scale: 1e-3 };
	case 's': return { kind: 'time', scale: 1 };
	case '%': case 'pct': return { kind: 'pct', scale: 1 };
	case 'bps': return { kind: 'bps', scale: 1 };
	case 'B': case 'bytes': return { kind: 'bytes', scale: 1 };
	case 'KB': return { kind: 'bytes', scale: 1024 };
	case 'MB': return { kind: 'bytes', scale: 1024 * 1024 };
	case 'GB': return { kind: 'bytes', scale: 1024 ** 3 };
	case 'TB': return { kind: 'bytes', scale: 1024 ** 4 };
	default: return { kind: 'plain', scale: 1 };
	}
}

/* The axis's unit for values up to top: [divisor, suffix], the divisor
 * in the metric's own unit (µs, ms, s, min...; bps to Tbps; B to TiB; k
 * to T and m, µ). */
function axisUnit(top, unit) {
	const lists = {
		time: [[86400, ' d'], [3600, ' h'], [60, ' min'], [1, ' s'],
		    [1e-3, ' ms'], [1e-6, ' µs'], [1e-9, ' ns']],
		pct: [[1, '%']],
		bps: [[1e12, ' Tbps'], [1e9, ' Gbps'], [1e6, ' Mbps'],
		    [1e3, ' kbps'], [1, ' bps']],
		bytes: [[1024 ** 4, ' TiB'], [1024 ** 3, ' GiB'],
		    [1024 ** 2, ' MiB'], [1024, ' KiB'], [1, ' B']],
		plain: [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k'], [1, ''],
		    [1e-3, 'm'], [1e-6, 'µ']],
	};
	const list = lists[unit.kind], x = Math.abs(top * unit.scale);
	const [div, suffix] = list.find(([d]) => x >= d) ||
	    list[list.length - 1];
	return [div / unit.scale, suffix];
}

/* About n round steps (1, 2, 2.5, 5 times a power of ten) over lo..hi. */
function niceTicks(lo, hi, n) {
	const raw = (hi - lo) / n, p = 10 ** Math.floor(Math.log10(raw));
	const step = [1, 2, 2.5, 5, 10].map((k) => k * p).find((k) =>
	    k >= raw);
	const first = Math.floor(lo / step) * step;
	const ticks = [];
	for (let v = first; v < hi + step * 0.999; v += step)
		ticks.push(Math.round(v / step) * step);
	return { step, ticks };
}

/* The time axis: ticks at the department's local hours, days or months,
 * as many as fit, labelled in the reader's language. */
function timeTicks(from, to, range) {
	const tz = S.tz, loc = S.lang === 'ja' ? 'ja-JP' : 'en-GB';
	/* the zone's offset at from, taken to hold over the range */
	const parts = new Intl.DateTimeFormat('en-US', { timeZone: tz,
	    hourCycle: 'h23', year: 'numeric', month: 'numeric',
	    day: 'numeric', hour: 'numeric', minute: 'numeric',
	    second: 'numeric' }).formatToParts(new Date(from * 1000));
	const f = Object.fromEntries(parts.map((p) => [p.type, +p.value]));
	const off = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute,
	    f.second) / 1000 - Math.floor(from);
	const ticks = [];
	let fmt;
	if (range === 'year') {
		const d = new Date((from + off) * 1000);
		let y = d.getUTCFullYear(), m = d.getUTCMonth() + 1;
		for (;; m++) {
			const t = Date.UTC(y + Math.floor(m / 12), m % 12, 1) / 1000 -
			    off;
			if (t > to)
				break;
			if ((m % 12) % 2 === 0)
				ticks.push(t);
		}
		fmt = { year: 'numeric', month: '2-digit' };
	} else {
		const step = { hour: 600, day: 3 * 3600, week: 86400,
		    month: 5 * 86400 }[range] || 3600;
		for (let t = Math.ceil((from + off) / step) * step - off; t <= to;
		    t += step)
			ticks.push(t);
		fmt = range === 'hour' || range === 'day' ?
		    { hour: '2-digit', minute: '2-digit' } :
		    { month: '2-digit', day: '2-digit' };
	}
	const df = new Intl.DateTimeFormat(loc, Object.assign({ timeZone: tz },
	    fmt));
	return ticks.map((t) => [t, df.format(new Date(t * 1000))]);
}

/* An SVG chart of one series from the API: [t, mean, min, max] points,
 * the band from lowest to highest and the mean as a line; a point of
 * nulls is a gap, where neither is drawn. */
function chart(s, label) {
	const W = 600, H = 150, L = 64, R = 10, T = 8, B = 20;
	const points = s.points, unit = metricUnit(s.metric);
	const svg = h('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`,
	    role: 'img', 'aria-label': label }, h('title', null, label));
	const data = points.filter((p) => p[1] !== null);
	if (!data.length) {
		svg.append(h('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle' },
		    t('graph.nodata')));
		return svg;
	}
	const t0 = Date.parse(s.from) / 1000, t1 = Date.parse(s.to) / 1000;
	let lo = Math.min(...data.map((p) => p[2]));
	let hi = Math.max(...data.map((p) => p[3]));
	if (lo >= 0 && lo < (hi - lo) * 2)
		lo = 0;
	if (hi === lo)
		hi = lo === 0 ? 1 : lo + Math.abs(lo) * 0.1;
	/* round steps in the axis's unit: 0, 10 µs, 20 µs; 0, 2 GiB */
	const [div, suffix] = axisUnit(Math.max(Math.abs(lo), Math.abs(hi)),
	    unit);
	const yt = niceTicks(lo / div, hi / div, 4);
	const dec = [0, 1, 2].find((k) => Math.abs(yt.step * 10 ** k -
	    Math.round(yt.step * 10 ** k)) < 1e-6) ?? 3;
	lo = Math.min(lo, yt.ticks[0] * div);
	hi = Math.max(hi, yt.ticks[yt.ticks.length - 1] * div);
	const x = (tt) => L + (tt - t0) / (t1 - t0) * (W - L - R);
	const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
	const xy = (p, i) => `${x(p[0]).toFixed(1)},${y(p[i]).toFixed(1)}`;
	/* the runs of points between gaps */
	const runs = [[]];
	for (const p of points) {
		if (p[1] === null) {
			if (runs[runs.length - 1].length)
				runs.push([]);
		} else
			runs[runs.length - 1].push(p);
	}
	svg.append(
	    h('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }),
	    h('line', { class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B }));
	for (const tick of yt.ticks) {
		const v = tick * div;
		svg.append(h('line', { class: 'grid', x1: L, y1: y(v), x2: W - R,
		    y2: y(v) }), h('text', { x: L - 4, y: y(v) + 3,
		    'text-anchor': 'end' }, tick === 0 ? '0' :
		    tick.toFixed(dec) + suffix));
	}
	for (const [tt, text] of timeTicks(t0, t1, s.range))
		svg.append(h('line', { class: 'axis', x1: x(tt), y1: H - B,
		    x2: x(tt), y2: H - B + 3 }), h('text', { x: x(tt), y: H - 5,
		    'text-anchor': 'middle' }, text));
	for (const run of runs.filter((r) => r.length)) {
		if (run.length === 1) {    /* a point alone: a dot */
			svg.append(h('circle', { class: 'dot', cx: x(run[0][0]),
			    cy: y(run[0][1]), r: 2 }));
			continue;
		}
		svg.append(h('polygon', { class: 'area', points: run.map((p) =>
		    xy(p, 3)).concat(run.slice().reverse().map((p) => xy(p, 2)))
		    .join(' ') }), h('polyline', { class: 'line',
		    points: run.map((p) => xy(p, 1)).join(' ') }));
	}
	return svg;
}

async function viewHost(name) {
	const host = await api('GET', '/api/v1/hosts/' + encodeURIComponent(name));
	const range = sessionStorage.getItem('incidentd.range') || 'day';
	const checks = h('table', { id: 'checks' }, h('tr', null,
	    ['check', 'state', 'since', 'output'].map((k) => h('th', null,
		t('col.' + k)))),
	host.checks.map((c) => h('tr', null, h('td', null, c.check,
	    h('span', { class: 'muted' }, ' ' + c.kind)),
	h('td', null, stateBadge(c.state), c.flapping ? ' ' + t('flapping') : '',
	    c.downtime ? ' ' + t('board.maint') : ''),
	h('td', null, fmtTime(c.since)), h('td', null, c.output))));
	const tabs = h('div', { class: 'tabs', role: 'group', 'aria-label':
	    t('graph.range') }, ['hour', 'day', 'week', 'month', 'year'].map((r) =>
	    h('button', { 'aria-pressed': r === range ? 'true' : 'false',
		'data-range': r, onclick: () => {
		    sessionStorage.setItem('incidentd.range', r);
		    route(true);
		} }, t('range.' + r))));
	/* every graph of the host in one request */
	const graphs = host.metrics.length ? await api('GET', '/api/v1/hosts/' +
	    encodeURIComponent(name) + '/metrics?range=' + range) :
	    { series: [] };
	const series = graphs.series.map((g) => Object.assign({}, graphs, g));
	const charts = h('div', { class: 'charts', id: 'charts' },
	    series.map((s) => h('figure', { class: 'panel' },
		h('figcaption', null, s.check + ' — ' + s.metric),
		chart(s, s.check + ' ' + s.metric))));
	show(host.host, [
		h('section', { class: 'panel' }, h('h2', null, t('checks')), checks),
		host.incidents.length ? h('section', { class: 'panel' },
		    h('h2', null, t('nav.incidents')), h('ul', null,
			host.incidents.map((i) => h('li', null, h('a', { href:
			    '#/incidents/' + i.id }, i.ref), ' ' + i.check + ' ' +
			    phaseName(i.phase))))) : null,
		h('section', null, h('h2', null, t('graphs')), tabs,
		    host.metrics.length ? charts : h('p', { class: 'muted' },
			t('graph.none'))),
	], () => route(true));
}

/* ---- Problems ---- */

async function viewProblems() {
	const l = await api('GET', '/api/v1/problems');
	const title = h('input', { id: 'problem-title', size: 50 });
	const add = mayChange() && S.me.role !== 'outsourcer' ? h('form', {
		class: 'panel', onsubmit: async (ev) => {
			ev.preventDefault();
			if (await act(() => api('POST', '/api/v1/problems', {
			    fields: { title: title.value } }), t('saved')))
				route(true);
		} }, h('label', { for: 'problem-title' }, t('problem.new')),
	h('div', { class: 'row' }, title, h('button', { type: 'submit' },
	    t('problem.add')))) : null;
	show(t('nav.problems'), [add, h('table', { id: 'problems' },
	    h('tr', null, ['ref', 'title', 'status', 'incidents'].map((k) =>
		h('th', null, t('col.' + k)))),
	    l.problems.map((p) => h('tr', null, h('td', null, p.ref),
		h('td', null, p.title), h('td', null, t('pstatus.' + p.status)),
		h('td', null, p.incidents.map((i, n) => [n ? ', ' : '', h('a',
		    { href: '#/incidents/' + i.id }, i.ref)])))))]);
}

/* ---- Maintenance ---- */

async function viewMaintenance() {
	const l = await api('GET', '/api/v1/maintenance');
	const f = {
		name: h('input', { id: 'mw-name', size: 30 }),
		targets: h('input', { id: 'mw-targets', size: 40,
		    placeholder: 'hosts: zaimu-db01; segments: finance' }),
		starts: h('input', { id: 'mw-starts', type: 'datetime-local' }),
		ends: h('input', { id: 'mw-ends', type: 'datetime-local' }),
		comment: h('input', { id: 'mw-comment', size: 30 }),
	};
	const form = mayChange() && S.me.role !== 'outsourcer' ? h('form', {
		class: 'panel', id: 'mw-form', onsubmit: async (ev) => {
			ev.preventDefault();
			if (await act(() => api('POST', '/api/v1/maintenance', {
			    name: f.name.value, targets: f.targets.value,
			    comment: f.comment.value,
			    starts_at: localToIso(f.starts.value),
			    ends_at: localToIso(f.ends.value) }), t('mw.added')))
				route(true);
		} },
	h('h2', null, t('mw.new')),
	h('div', { class: 'row' }, Object.entries(f).map(([k, el]) => h('div',
	    null, h('label', { for: el.id }, t('mw.' + k)), el)),
	h('button', { class: 'primary', type: 'submit' }, t('mw.add'))),
	h('p', { class: 'muted' }, t('mw.help'))) : null;
	const now = Date.now();
	show(t('nav.maintenance'), [form, h('table', { id: 'windows' },
	    h('tr', null, ['name', 'targets', 'starts', 'ends', 'source', ''].map(
		(k) => h('th', null, k ? t('mw.' + k) : ''))),
	    l.windows.map((w) => h('tr', null, h('td', null, w.name,
		w.running ? [' ', h('span', { class: 'badge s-WARNING' },
		    t('mw.running'))] : null),
	    h('td', null, w.targets), h('td', null, fmtTime(w.starts_at)),
	    h('td', null, fmtTime(w.ends_at)),
	    h('td', null, w.source === 'console' ? t('mw.console') : w.source),
	    h('td', null, w.source === 'console' && mayChange() &&
		new Date(w.ends_at).getTime() > now ? h('button', {
		    class: 'danger', onclick: async () => {
			if (await act(() => api('POST',
			    '/api/v1/maintenance/cancel', { name: w.name,
			    starts_at: w.starts_at }), t('mw.cancelled')))
				route(true);
		    } }, w.running ? t('mw.end') : t('mw.cancel')) : null)))),
	l.windows.length ? null : h('p', { class: 'muted' }, t('mw.none'))]);
}

/* ---- Service levels ---- */

function slaChart(ags) {
	const rows = ags.filter((a) => a.availability !== null);
	const W = 1000, RH = 22, L = 180, H = rows.length * RH + 24;
	const lo = Math.min(90, ...rows.map((a) => Math.floor(a.availability)),
	    ...rows.map((a) => Math.floor(a.availability_target || 100)));
	const x = (v) => L + (v - lo) / (100 - lo) * (W - L - 10);
	const svg = h('svg', { class: 'chart bars', viewBox: `0 0 ${W} ${H}`,
	    role: 'img', 'aria-label': t('sla.chart') }, h('title', null,
	    t('sla.chart')));
	rows.forEach((a, i) => {
		const y = 4 + i * RH;
		svg.append(h('text', { x: L - 6, y: y + 14, 'text-anchor': 'end' },
		    a.agreement),
		h('rect', { x: L, y: y + 3, height: RH - 8, width: Math.max(1,
		    x(a.availability) - L), fill: a.met === false ? '#c62828' :
		    '#2e7d32' }),
		a.availability_target !== null ? h('line', { class: 'target',
		    x1: x(a.availability_target), x2: x(a.availability_target),
		    y1: y, y2: y + RH - 2 }) : null);
	});
	svg.append(h('text', { x: L, y: H - 4 }, lo + '%'),
	    h('text', { x: W - 10, y: H - 4, 'text-anchor': 'end' }, '100%'));
	return svg;
}

async function viewSla() {
	const month = sessionStorage.getItem('incidentd.month') ||
	    new Intl.DateTimeFormat('sv-SE', { timeZone: S.tz, year: 'numeric',
		month: '2-digit' }).format(new Date()).slice(0, 7);
	const r = await api('GET', '/api/v1/sla?detail=0&month=' + month);
	const pick = h('input', { id: 'month', type: 'month', value: month,
	    onchange: (ev) => {
		if (ev.target.value) {
			sessionStorage.setItem('incidentd.month', ev.target.value);
			route(true);
		}
	    } });
	const pct = (v) => v === null ? t('sla.nodata') : v.toFixed(3) + '%';
	show(t('sla.title', month), [
		h('div', { class: 'row' }, h('label', { for: 'month' },
		    t('sla.month')), pick),
		h('section', { class: 'panel' }, slaChart(r.agreements)),
		h('table', { id: 'sla' }, h('tr', null, ['agreement', 'service',
		    'party', 'availability', 'target', 'count', 'tto_b', 'ttr_b',
		    'mtta', 'mttr'].map((k, i) => h('th', { class: i >= 3 ? 'num' :
			null }, t('sla.' + k)))),
		r.agreements.map((a) => h('tr', null,
		    h('td', null, a.agreement + ' (' + a.kind.toUpperCase() + ')'),
		    h('td', null, a.service), h('td', null, a.party),
		    h('td', { class: 'num' + (a.met === false ? ' over' : '') },
			pct(a.availability)),
		    h('td', { class: 'num' }, a.availability_target === null ? '–' :
			Number(a.availability_target).toFixed(2) + '%'),
		    h('td', { class: 'num' }, a.count),
		    h('td', { class: 'num' + (a.tto_breaches ? ' over' : '') },
			a.tto_breaches),
		    h('td', { class: 'num' + (a.ttr_breaches ? ' over' : '') },
			a.ttr_breaches),
		    h('td', { class: 'num' }, fmtDur(a.mtta_s)),
		    h('td', { class: 'num' }, fmtDur(a.mttr_s))))),
		r.agreements.length ? null : h('p', { class: 'muted' },
		    t('sla.none')),
	]);
}

/* ---- Start ---- */

async function boot() {
	document.documentElement.lang = S.lang;
	try {
		S.me = await api('GET', '/api/v1/me');
		S.tz = S.me.timezone || S.tz;
		start();
	} catch (e) {
		if (e.status !== 401)
			showLogin(e.message);
	}
}

boot();
