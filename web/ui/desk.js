// The agent desk: sign-in, state, the offered contact's screen-pop,
// accept / reject, the conversations with their timers, the wrap-up, and,
// for agents taking calls in the browser, the call's audio over WebRTC.

import {
  $, $$, api, ApiError, callbackLabel, channelLabel, consentLabel, consentVar, duration, el, forgetToken,
  isCall, languageLabel, saveToken, savedToken, signIn, signInError, since, stateLabel, streamEvents, until,
} from './common.js';

// desk is the page's state. It is on window for the browser's console and
// for automated checks: desk.call.pc is the call's RTCPeerConnection.
const desk = {
  token: '',
  me: null,
  status: null, // the agent's AgentStatus, from the last event
  abort: null, // stops the event stream
  call: null, // {pc, stream, offerId, contactId, accepted}
  busy: false, // a request of the agent is in flight
  linkUp: false, // the event stream is connected
  shownOffer: '',
};
window.ivrdDesk = desk;

$('#signin').addEventListener('submit', (e) => {
  e.preventDefault();
  start($('#token').value.trim(), false);
});
$('#forget').addEventListener('click', () => leave(''));
for (const b of $$('#state-buttons button')) {
  b.addEventListener('click', () => setState(b.dataset.state));
}
$('#btn-accept').addEventListener('click', () => accept());
$('#btn-reject').addEventListener('click', () => reject());
setInterval(tick, 500);
// Leaving the page drops a call taken in the browser: ask first.
window.addEventListener('beforeunload', (e) => {
  if (desk.call && desk.call.accepted) {
    e.preventDefault();
    e.returnValue = '';
  }
});

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
    me = await signIn(token, (m) => (m.agent ? '' :
      `${m.name} n'est pas un agent : déclarez-le sous routing.agents dans la configuration.`));
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
  desk.token = token;
  desk.me = me;
  $('#token').value = '';
  $('#signin').hidden = true;
  $('#desk').hidden = false;
  $('#identity').hidden = false;
  render(me.agent);
  desk.abort = new AbortController();
  streamEvents(token, '/api/agent/events', {
    signal: desk.abort.signal,
    onEvent,
    onLink: (up) => {
      desk.linkUp = up;
      const l = $('#link');
      l.textContent = up ? 'En ligne' : 'Reconnexion…';
      l.className = 'link ' + (up ? 'up' : 'down');
    },
    onDenied: (status, msg) => leave(status === 401 ? 'Jeton refusé : reconnectez-vous.' : msg),
  });
}

// leave forgets the token and returns to the sign-in form.
function leave(why) {
  if (desk.abort) {
    desk.abort.abort();
  }
  closeCall();
  forgetToken();
  Object.assign(desk, { token: '', me: null, status: null, abort: null, shownOffer: '', linkUp: false });
  $('#desk').hidden = true;
  $('#identity').hidden = true;
  $('#signin').hidden = false;
  $('#signin-error').textContent = why;
  $('#events').replaceChildren();
  $('#conversation-list').replaceChildren();
}

function onEvent(type, ev) {
  journal(type, ev);
  // The call's audio goes with its conversation, and with an offer
  // withdrawn after the agent accepted it (the caller left meanwhile).
  if (type === 'ended' && ev.contact && desk.call && desk.call.contactId === ev.contact.id) {
    closeCall();
  }
  if (type === 'withdrawn' && ev.offer && desk.call && desk.call.offerId === ev.offer.id) {
    closeCall();
  }
  if (ev.agent) {
    render(ev.agent);
  }
}

async function request(method, path, body) {
  desk.busy = true;
  renderButtons();
  try {
    return await api(desk.token, method, path, body);
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) {
      leave('Jeton refusé : reconnectez-vous.');
    }
    throw e;
  } finally {
    desk.busy = false;
    renderButtons();
  }
}

async function setState(state) {
  $('#desk-error').textContent = '';
  try {
    const st = await request('POST', '/api/agent/state', { state });
    // The event stream brings the same change, in order with the others;
    // the answer can arrive after a newer event (an offer) and is shown
    // only when the stream is down.
    if (!desk.linkUp) {
      render(st);
    }
  } catch (e) {
    $('#desk-error').textContent = `Changement d'état refusé : ${e.message}`;
  }
}

// takesAudioHere says whether accepting this offer brings the call into
// the page: an agent taking calls in the browser, offered a call.
function takesAudioHere(offer) {
  return desk.status && desk.status.browser && !offer.phone && isCall(offer.contact);
}

async function accept() {
  const offer = desk.status && desk.status.offer;
  if (!offer || desk.busy) {
    return;
  }
  $('#offer-error').textContent = '';
  const path = `/api/agent/offers/${encodeURIComponent(offer.id)}/accept`;
  try {
    if (takesAudioHere(offer)) {
      await acceptCall(offer, path);
    } else {
      await request('POST', path);
    }
  } catch (e) {
    closeCall();
    $('#offer-error').textContent = `Impossible d'accepter : ${e.message}`;
  }
}

// acceptCall brings the call into the page: the microphone, one audio
// transceiver, an SDP offer with every ICE candidate (ivrd does not
// trickle), ivrd's answer, and the caller's audio in the <audio> element.
async function acceptCall(offer, path) {
  closeCall();
  desk.busy = true;
  renderButtons();
  const call = { pc: null, stream: null, offerId: offer.id, contactId: offer.contact.id, accepted: false };
  desk.call = call;
  try {
    call.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    const pc = new RTCPeerConnection({ iceServers: [] });
    call.pc = pc;
    const track = call.stream.getAudioTracks()[0];
    const tr = pc.addTransceiver(track, { direction: 'sendrecv', streams: [call.stream] });
    preferG711(tr);
    pc.ontrack = (e) => {
      const audio = $('#remote-audio');
      audio.srcObject = e.streams[0] || new MediaStream([e.track]);
      audio.play().catch(() => {});
    };
    pc.onconnectionstatechange = () => {
      renderCallStatus();
      if (pc.connectionState === 'failed') {
        journalLine('Audio perdu : la connexion WebRTC a échoué.');
        if (desk.call === call) {
          closeCall();
        }
      }
    };
    await pc.setLocalDescription(await pc.createOffer());
    await iceGathered(pc, 5000);
    if (desk.call !== call) {
      throw new Error('annulé');
    }
    const res = await request('POST', path, { sdp: pc.localDescription.sdp });
    await pc.setRemoteDescription({ type: 'answer', sdp: res.sdp });
    call.accepted = true;
    renderCallStatus();
  } finally {
    desk.busy = false;
    renderButtons();
  }
}

// preferG711 puts PCMU and PCMA first: ivrd relays the caller's audio
// without transcoding.
function preferG711(tr) {
  if (!tr.setCodecPreferences || !window.RTCRtpReceiver || !RTCRtpReceiver.getCapabilities) {
    return;
  }
  const caps = RTCRtpReceiver.getCapabilities('audio');
  if (!caps) {
    return;
  }
  const rank = (c) => {
    const t = c.mimeType.toLowerCase();
    return t === 'audio/pcmu' ? 0 : t === 'audio/pcma' ? 1 : t === 'audio/telephone-event' ? 2 : 3;
  };
  try {
    tr.setCodecPreferences(caps.codecs.slice().sort((a, b) => rank(a) - rank(b)));
  } catch (e) {
    console.warn('codec preferences', e);
  }
}

function iceGathered(pc, timeout) {
  if (pc.iceGatheringState === 'complete') {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') {
        done();
      }
    };
    // Past the timeout, the candidates gathered so far are sent.
    const t = setTimeout(done, timeout);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

function closeCall() {
  const call = desk.call;
  if (!call) {
    return;
  }
  desk.call = null;
  if (call.pc) {
    call.pc.close();
  }
  if (call.stream) {
    call.stream.getTracks().forEach((t) => t.stop());
  }
  const audio = $('#remote-audio');
  audio.srcObject = null;
  renderCallStatus();
}

async function reject() {
  const offer = desk.status && desk.status.offer;
  if (!offer || desk.busy) {
    return;
  }
  $('#offer-error').textContent = '';
  try {
    await request('POST', `/api/agent/offers/${encodeURIComponent(offer.id)}/reject`);
  } catch (e) {
    $('#offer-error').textContent = `Impossible de refuser : ${e.message}`;
  }
}

async function hangUp(contactId, card) {
  const err = $('.conv-error', card);
  err.textContent = '';
  try {
    await request('POST', `/api/agent/contacts/${encodeURIComponent(contactId)}/hangup`);
    if (desk.call && desk.call.contactId === contactId) {
      closeCall();
    }
  } catch (e) {
    err.textContent = `Impossible de raccrocher : ${e.message}`;
  }
}

// render shows the agent's status.
function render(st) {
  if (!st) {
    return;
  }
  desk.status = st;
  $('#agent-name').textContent = st.name;
  const s = $('#agent-state');
  s.textContent = stateLabel(st.state);
  s.dataset.state = st.state;
  renderButtons();
  renderOffer(st.offer);
  renderConversations(st.contacts || []);
  $('#wrapup').hidden = st.state !== 'wrap_up';
  const idle = !st.offer && !(st.contacts && st.contacts.length) && st.state !== 'wrap_up';
  $('#idle').hidden = !idle;
  $('#idle-text').textContent = idleText(st);
  tick();
}

function idleText(st) {
  switch (st.state) {
    case 'available':
      return 'En attente d\'un contact…';
    case 'away':
      return 'En pause : aucun contact ne vous est proposé.';
    case 'signed_out':
      return 'Déconnecté : choisissez Disponible pour recevoir des contacts.';
    default:
      return '';
  }
}

function renderButtons() {
  const st = desk.status;
  const state = st ? st.state : '';
  // Away is allowed at any time: the conversations in progress go on,
  // and nothing new is offered. Signing out waits for the end of the
  // conversations.
  const allowed = {
    'btn-available': state === 'away' || state === 'signed_out',
    'btn-away': state !== 'away' && state !== '',
    'btn-end-wrapup': state === 'wrap_up',
    'btn-signout': state !== 'busy' && state !== 'signed_out' && state !== '',
  };
  for (const [id, ok] of Object.entries(allowed)) {
    $('#' + id).disabled = !ok || desk.busy;
  }
  $('#btn-end-wrapup').hidden = state !== 'wrap_up';
  $('#btn-accept').disabled = desk.busy;
  $('#btn-reject').disabled = desk.busy;
}

function renderOffer(offer) {
  const box = $('#offer');
  if (!offer) {
    box.hidden = true;
    desk.shownOffer = '';
    return;
  }
  box.hidden = false;
  if (desk.shownOffer !== offer.id) {
    desk.shownOffer = offer.id;
    $('#offer-error').textContent = '';
    $('#offer-channel').textContent = callbackLabel(offer.contact) || channelLabel(offer.contact.channel);
    fillScreenPop($('#offer-pop'), offer.contact, true);
  }
  $('#phone-ringing').hidden = !offer.phone;
  // A phone is answered by picking it up: the desk can only turn it down.
  $('#btn-accept').hidden = !!offer.phone;
}

// builtinVars are set by ivrd on every call (flows/README.md).
const builtinVars = new Set(['caller', 'dialled', 'call_id', 'language']);

// fillScreenPop shows everything the IVR learned about a contact.
function fillScreenPop(box, c, waiting) {
  box.replaceChildren();
  const dl = el('dl');
  const row = (label, cls, value) => {
    dl.append(el('dt', '', label), el('dd', cls, value));
  };
  if (c.callback) {
    // The customer asked to be called back: the number first.
    row('À rappeler', 'pop-callback', c.callback.number);
    row('Tentative', 'pop-attempt', `${c.callback.attempts} sur ${c.callback.max_attempts}`);
  }
  row('Motif', 'pop-intent', c.intent || 'Non précisé');
  row('File', 'pop-queue', c.queue);
  row('Appelant', 'pop-caller', c.caller || 'Inconnu');
  row('Langue', 'pop-language', languageLabel(c.language));
  row('Enregistrement', 'pop-consent', consentLabel(c.vars));
  const wait = el('dd', 'pop-wait');
  if (waiting) {
    wait.dataset.since = c.enqueued_at;
  } else {
    wait.textContent = duration(c.wait_seconds || 0);
  }
  dl.append(el('dt', '', 'Attente'), wait);
  if (c.priority) {
    row('Priorité', 'pop-priority', c.priority);
  }
  box.append(dl);

  // What the caller typed or chose; the call's own variables (number,
  // language, ids) are shown above or mean nothing to the agent.
  const vars = Object.entries(c.vars || {}).filter(([k]) => k !== consentVar && !builtinVars.has(k));
  if (vars.length) {
    box.append(el('h4', '', 'Saisies'));
    const v = el('dl', 'pop-vars');
    vars.sort(([a], [b]) => a.localeCompare(b));
    for (const [k, val] of vars) {
      const dd = el('dd', '', val);
      dd.dataset.var = k;
      v.append(el('dt', '', k), dd);
    }
    box.append(v);
  }
  if (c.path && c.path.length) {
    box.append(el('h4', '', 'Parcours SVI'));
    const ol = el('ol', 'pop-path');
    for (const step of c.path) {
      ol.append(el('li', '', step));
    }
    box.append(ol);
  }
}

function renderConversations(contacts) {
  $('#conversations').hidden = contacts.length === 0;
  const list = $('#conversation-list');
  const ids = new Set(contacts.map((c) => c.id));
  for (const card of $$('.conversation', list)) {
    if (!ids.has(card.dataset.contactId)) {
      card.remove();
    }
  }
  for (const c of contacts) {
    let card = $$('.conversation', list).find((x) => x.dataset.contactId === c.id);
    if (!card) {
      card = $('#conversation-template').content.firstElementChild.cloneNode(true);
      card.dataset.contactId = c.id;
      card.append(el('p', 'error conv-error'));
      $('.hangup', card).addEventListener('click', () => hangUp(c.id, card));
      list.append(card);
    }
    card.dataset.channel = c.channel;
    $('.conv-channel', card).textContent = channelLabel(c.channel);
    $('.conv-caller', card).textContent = c.callback ? c.callback.number : c.caller || 'Inconnu';
    $('.talk-timer', card).dataset.since = c.connected_at || '';
    fillScreenPop($('.screenpop', card), c, false);
  }
  renderCallStatus();
}

// renderCallStatus says where the audio of each call is.
function renderCallStatus() {
  for (const card of $$('#conversation-list .conversation')) {
    const p = $('.call-status', card);
    const call = desk.call;
    const isVoice = isCall({ channel: card.dataset.channel });
    if (call && call.contactId === card.dataset.contactId && call.pc) {
      const labels = {
        new: 'Connexion audio…', connecting: 'Connexion audio…', connected: 'Audio établi',
        disconnected: 'Audio interrompu…', failed: 'Audio perdu', closed: 'Audio terminé',
      };
      p.textContent = labels[call.pc.connectionState] || call.pc.connectionState;
      p.dataset.audio = call.pc.connectionState;
      p.hidden = false;
    } else if (isVoice && desk.status && !desk.status.browser) {
      p.textContent = 'Au téléphone';
      p.dataset.audio = 'phone';
      p.hidden = false;
    } else {
      p.hidden = true;
    }
  }
}

// tick updates the clocks: time in state, the offer's deadline, wait and
// talk times, the wrap-up.
function tick() {
  const st = desk.status;
  if (!st) {
    return;
  }
  $('#state-since').textContent = st.since ? `depuis ${duration(since(st.since))}` : '';
  if (st.offer) {
    $('#offer-countdown').textContent = duration(Math.ceil(until(st.offer.deadline)));
  }
  for (const e of $$('.pop-wait[data-since]')) {
    e.textContent = duration(since(e.dataset.since));
  }
  for (const e of $$('.talk-timer')) {
    e.textContent = e.dataset.since ? duration(since(e.dataset.since)) : '';
  }
  if (st.state === 'wrap_up') {
    $('#wrapup-countdown').textContent = st.wrap_up_until ? duration(Math.ceil(until(st.wrap_up_until))) : '—';
  }
}

// The router's reasons, in French.
const withdrawnReasons = {
  rejected: 'refusée',
  'no answer': 'pas de réponse dans le délai',
  'agent went away': 'passage en pause',
  'agent went signed_out': 'déconnexion',
  'caller hung up': 'l\'appelant a raccroché',
  'caller reached the queue\'s maximum wait': 'attente maximale atteinte',
  'caller left the queue': 'l\'appelant a quitté la file',
  'contact closed': 'contact clos',
  'the call did not take the agent\'s leg': 'l\'appel n\'a pas pu être relié',
  'phone busy': 'téléphone occupé',
  'declined on the phone': 'refusée sur le téléphone',
  'phone could not be rung': 'le téléphone n\'a pas pu sonner',
  'audio could not connect': 'l\'audio n\'a pas pu s\'établir',
  replaced: 'remplacée',
  'customer not reached': 'client injoignable',
  'callback attempt over': 'tentative de rappel terminée',
};
function withdrawnReason(r) {
  if (!r) {
    return 'retirée';
  }
  if (r.startsWith('assigned to ')) {
    return `confiée à ${r.slice(12)}`;
  }
  return withdrawnReasons[r] || r;
}
const endedBy = {
  caller: 'l\'appelant a raccroché', agent: 'vous avez raccroché', ivrd: 'fin technique',
  not_reached: 'client injoignable, rappel non abouti',
};

function journal(type, ev) {
  const c = ev.contact || (ev.offer && ev.offer.contact);
  const who = c ? callbackLabel(c) || `${channelLabel(c.channel)} de ${c.caller || 'inconnu'}` : '';
  switch (type) {
    case 'state':
      journalLine(`État : ${stateLabel(ev.agent.state)}`);
      break;
    case 'offer':
      journalLine(`Contact proposé : ${who}${c && c.intent ? ` (${c.intent})` : ''}`);
      break;
    case 'withdrawn':
      journalLine(`Proposition close : ${withdrawnReason(ev.reason)}`);
      break;
    case 'connected':
      journalLine(`En conversation : ${who}`);
      break;
    case 'ended':
      journalLine(`Conversation terminée : ${endedBy[ev.reason] || ev.reason || who}`);
      break;
    default:
      journalLine(type);
  }
}

function journalLine(text) {
  const li = el('li');
  li.append(el('time', '', new Date().toLocaleTimeString('fr-FR')), document.createTextNode(' ' + text));
  const ol = $('#events');
  ol.prepend(li);
  while (ol.children.length > 50) {
    ol.lastElementChild.remove();
  }
}
