// The supervisor view: the queues with who waits and for how long, the
// agents and their states, and the service figures, pushed live.

import {
  $, $$, ApiError, callbackLabel, channelLabel, duration, el, forgetToken, languageLabel, percent,
  saveToken, savedToken, seconds, signIn, signInError, since, stateLabel, streamEvents,
} from './common.js';

const view = {
  token: '',
  abort: null,
  board: null, // the last Board
  boardAt: 0, // when it arrived, on the browser's clock
  stats: null,
};
window.ivrdSupervisor = view;

$('#signin').addEventListener('submit', (e) => {
  e.preventDefault();
  start($('#token').value.trim(), false);
});
$('#forget').addEventListener('click', () => leave(''));
setInterval(tick, 1000);

const saved = savedToken();
if (saved) {
  start(saved, true);
}

async function start(token, resumed) {
  $('#signin-error').textContent = '';
  if (!token) {
    return;
  }
  let me;
  try {
    me = await signIn(token, (m) => (m.role === 'supervisor' || m.role === 'admin' ? '' :
      `${m.name} est ${m.role} : la supervision demande le rôle supervisor ou admin.`));
  } catch (e) {
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      forgetToken();
    }
    $('#signin-error').textContent = signInError(e);
    if (resumed) {
      $('#token').value = '';
    }
    return;
  }
  saveToken(token);
  view.token = token;
  $('#token').value = '';
  $('#user-name').textContent = me.name;
  $('#signin').hidden = true;
  $('#board').hidden = false;
  $('#identity').hidden = false;
  view.abort = new AbortController();
  streamEvents(token, '/api/supervisor/events', {
    signal: view.abort.signal,
    onEvent: (type, data) => {
      if (type === 'board') {
        view.board = data;
        view.boardAt = Date.now();
        renderBoard(data);
      } else if (type === 'stats') {
        view.stats = data;
        renderStats(data);
      }
    },
    onLink: (up) => {
      const l = $('#link');
      l.textContent = up ? 'En direct' : 'Reconnexion…';
      l.className = 'link ' + (up ? 'up' : 'down');
    },
    onDenied: (status, msg) => leave(status === 401 ? 'Jeton refusé : reconnectez-vous.' : msg),
  });
}

function leave(why) {
  if (view.abort) {
    view.abort.abort();
  }
  forgetToken();
  Object.assign(view, { token: '', abort: null, board: null, stats: null });
  $('#board').hidden = true;
  $('#identity').hidden = true;
  $('#signin').hidden = false;
  $('#signin-error').textContent = why;
}

// elapsed is the time since the last board, added to its wait times
// between two pushes.
function elapsed() {
  return view.board ? (Date.now() - view.boardAt) / 1000 : 0;
}

function renderBoard(b) {
  const list = $('#queues');
  list.replaceChildren();
  const queues = b.queues || [];
  $('#no-queues').hidden = queues.length > 0;
  for (const q of queues) {
    const card = $('#queue-template').content.firstElementChild.cloneNode(true);
    card.dataset.queue = q.name;
    $('.queue-name', card).textContent = q.name;
    $('.queue-waiting', card).textContent = (q.waiting || []).length;
    const longest = $('.queue-longest', card);
    if ((q.waiting || []).length > 0) {
      longest.dataset.wait = q.longest_wait_seconds;
    } else {
      longest.textContent = '—';
    }
    const agents = Object.entries(q.agents || {}).filter(([, n]) => n > 0)
      .map(([s, n]) => `${stateLabel(s)} : ${n}`);
    $('.queue-agents', card).textContent = agents.length ? `Agents — ${agents.join(' · ')}` : 'Aucun agent pour cette file';
    const body = $('tbody', card);
    for (const w of q.waiting || []) {
      const tr = el('tr', 'waiting-contact');
      tr.dataset.contactId = w.id;
      const wait = el('td', 'wait');
      wait.dataset.wait = w.wait_seconds;
      tr.append(
        el('td', 'position', w.position),
        el('td', 'caller', w.callback ? w.callback.number : w.caller || 'Inconnu'),
        el('td', 'channel', w.callback ? callbackStatus(w.callback) : channelLabel(w.channel)),
        el('td', 'intent', w.intent || '—'),
        el('td', 'language', w.language ? languageLabel(w.language) : '—'),
        wait,
        el('td', 'ewt', w.ewt_seconds ? duration(w.ewt_seconds) : '—'),
        el('td', 'offered-to', w.offered_to || ''),
      );
      body.append(tr);
    }
    list.append(card);
  }

  const rows = $('#agents tbody');
  rows.replaceChildren();
  for (const a of b.agents || []) {
    const tr = el('tr', 'agent');
    tr.dataset.agent = a.name;
    const state = el('td', 'state');
    const pill = el('span', 'state', stateLabel(a.state));
    pill.dataset.state = a.state;
    state.append(pill);
    const contacts = (a.contacts || []).map((c) => callbackLabel(c) || `${channelLabel(c.channel)} ${c.caller || ''}`.trim());
    if (a.offer) {
      const c = a.offer.contact;
      contacts.push(`proposé : ${callbackLabel(c) || c.caller || channelLabel(c.channel)}`);
    }
    const sinceCell = el('td', 'since');
    sinceCell.dataset.since = a.since;
    tr.append(
      el('td', 'name', a.name),
      state,
      sinceCell,
      el('td', 'device', a.browser ? 'Navigateur' : 'Téléphone'),
      el('td', 'contacts', contacts.join(', ') || '—'),
      el('td', 'queues', (a.queues || []).join(', ') || 'Toutes'),
    );
    rows.append(tr);
  }
  tick();
}

// callbackStatus says where a callback request stands: calling the
// customer, or when its next attempt comes.
function callbackStatus(cb) {
  if (cb.state === 'active') {
    return cb.reached ? 'Rappel (client en ligne)' : 'Rappel (en cours)';
  }
  const next = cb.next_attempt ? Date.parse(cb.next_attempt) : NaN;
  if (!Number.isNaN(next) && next > Date.now()) {
    return `Rappel à ${new Date(next).toLocaleTimeString('fr-FR', { hour: '2-digit', minute: '2-digit' })}`;
  }
  return 'Rappel';
}

function renderStats(s) {
  $('#threshold').textContent = `Niveau de service : part des contacts répondus en moins de ${Math.round(s.threshold_seconds)} s`
    + (s.short_abandon_seconds ? `, hors abandons de moins de ${Math.round(s.short_abandon_seconds)} s.` : '.');
  const intervals = ['today', '15m'].map((n) => (s.intervals || []).find((i) => i.name === n));
  // Rows: every queue of either interval, then the total.
  const names = new Set();
  for (const i of intervals) {
    for (const q of (i && i.queues) || []) {
      names.add(q.queue);
    }
  }
  const body = $('#stats tbody');
  body.replaceChildren();
  const row = (label, pick, cls) => {
    const tr = el('tr', cls);
    tr.dataset.queue = label;
    tr.append(el('th', '', label));
    for (const i of intervals) {
      const q = i ? pick(i) : null;
      tr.append(
        el('td', 'offered', q ? q.offered : '—'),
        el('td', 'answered', q ? q.answered : '—'),
        el('td', 'service-level', q ? percent(q.service_level) : '—'),
        el('td', 'abandon-rate', q ? percent(q.abandon_rate) : '—'),
        el('td', 'asa', q ? seconds(q.asa_seconds) : '—'),
      );
    }
    body.append(tr);
  };
  for (const name of [...names].sort()) {
    row(name, (i) => (i.queues || []).find((q) => q.queue === name), 'queue-stats');
  }
  row('Total', (i) => i.total, 'total-stats');
}

function tick() {
  if (!view.board) {
    return;
  }
  const e = elapsed();
  for (const c of $$('[data-wait]')) {
    c.textContent = duration(Number(c.dataset.wait) + e);
  }
  for (const c of $$('#agents [data-since]')) {
    c.textContent = duration(since(c.dataset.since));
  }
  const at = Date.parse(view.board.at);
  $('#updated').textContent = Number.isNaN(at) ? '' :
    `mis à jour à ${new Date(at).toLocaleTimeString('fr-FR')}`;
}
