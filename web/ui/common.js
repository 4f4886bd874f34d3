// Shared by the agent desk and the supervisor view: the token, calls to
// the API, server-sent events read with fetch(), French labels and
// formatting.

const tokenKey = 'ivrd-token';

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// The token lives in sessionStorage: it is gone when the tab closes.
export function savedToken() {
  return sessionStorage.getItem(tokenKey) || '';
}
export function saveToken(t) {
  sessionStorage.setItem(tokenKey, t);
}
export function forgetToken() {
  sessionStorage.removeItem(tokenKey);
}

// ApiError is an answer of the API other than 2xx.
export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Offset of the server's clock from the browser's, in ms, from the Date
// header; timers count from the server's timestamps.
let skew = 0;
export function now() {
  return Date.now() + skew;
}

// api calls the API with the token and returns the decoded JSON.
export async function api(token, method, path, body) {
  const init = { method, headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const date = Date.parse(res.headers.get('Date') || '');
  if (!Number.isNaN(date) && Math.abs(date - Date.now()) > 2000) {
    skew = date - Date.now();
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    // Not JSON: the status says enough.
  }
  if (!res.ok) {
    throw new ApiError(res.status, (data && data.error) || res.statusText || 'HTTP ' + res.status);
  }
  return data;
}

// streamEvents reads a server-sent event stream with fetch() (EventSource
// cannot send the Authorization header) and calls onEvent(type, data) for
// each event, onLink(up) when the stream connects or drops. It reconnects
// with a growing delay until signal is aborted; onDenied(status) is called
// and the loop ends on 401, 403 or 404.
export async function streamEvents(token, path, { signal, onEvent, onLink, onDenied }) {
  let delay = 500;
  while (!signal.aborted) {
    try {
      const res = await fetch(path, {
        headers: { Authorization: 'Bearer ' + token, Accept: 'text/event-stream' },
        cache: 'no-store',
        signal,
      });
      if (res.status === 401 || res.status === 403 || res.status === 404) {
        let msg = res.statusText;
        try {
          msg = (await res.json()).error || msg;
        } catch {
          // keep the status text
        }
        onDenied(res.status, msg);
        return;
      }
      if (!res.ok || !res.body) {
        throw new Error('HTTP ' + res.status);
      }
      onLink(true);
      delay = 500;
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          break;
        }
        buf += value.replace(/\r\n?/g, '\n');
        let end;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          dispatch(block, onEvent);
        }
      }
    } catch (e) {
      if (signal.aborted) {
        return;
      }
      console.warn('event stream', path, e);
    }
    onLink(false);
    await sleep(delay, signal);
    delay = Math.min(delay * 2, 10000);
  }
}

function dispatch(block, onEvent) {
  let type = 'message';
  const data = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) {
      continue;
    }
    const i = line.indexOf(':');
    const field = i < 0 ? line : line.slice(0, i);
    let value = i < 0 ? '' : line.slice(i + 1);
    if (value.startsWith(' ')) {
      value = value.slice(1);
    }
    if (field === 'event') {
      type = value;
    } else if (field === 'data') {
      data.push(value);
    }
  }
  if (data.length === 0) {
    return;
  }
  let parsed;
  try {
    parsed = JSON.parse(data.join('\n'));
  } catch (e) {
    console.warn('event not JSON', type, e);
    return;
  }
  onEvent(type, parsed);
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

export const stateLabels = {
  signed_out: 'Déconnecté',
  away: 'En pause',
  available: 'Disponible',
  offered: 'Contact proposé',
  busy: 'En conversation',
  wrap_up: 'Post-traitement',
};

export function stateLabel(s) {
  return stateLabels[s] || s;
}

const channelLabels = { voice: 'Appel', webrtc: 'Appel web', chat: 'Chat', email: 'E-mail', callback: 'Rappel' };
export function channelLabel(c) {
  return channelLabels[c] || c;
}

// isCall says whether a contact is taken as a call: a live call, or a
// callback request (the agent talks to the customer called back).
export function isCall(c) {
  return c.channel === 'voice' || c.channel === 'webrtc' || c.channel === 'callback';
}

// callbackLabel names a callback request by the number to call:
// "Rappel au 0612345678"; '' for another contact.
export function callbackLabel(c) {
  return c.callback ? `Rappel au ${c.callback.number}` : '';
}

const languageLabels = {
  fr: 'Français', en: 'Anglais', es: 'Espagnol', de: 'Allemand', it: 'Italien',
  pt: 'Portugais', nl: 'Néerlandais', ar: 'Arabe', zh: 'Chinois',
};
export function languageLabel(l) {
  if (!l) {
    return 'Non précisée';
  }
  const base = l.toLowerCase().split(/[-_]/)[0];
  return languageLabels[base] ? `${languageLabels[base]} (${l})` : l;
}

// The flow stores the caller's answer to the recording notice in this
// variable (ivr.VarConsent).
export const consentVar = 'recording_consent';
export function consentLabel(vars) {
  switch (vars && vars[consentVar]) {
    case 'accepted':
      return 'Acceptée';
    case 'refused':
      return 'Refusée : ne pas enregistrer';
    default:
      return 'Non demandée';
  }
}

// duration formats seconds as m:ss or h:mm:ss.
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

// since is the seconds elapsed since an RFC 3339 time of the server.
export function since(t) {
  const at = Date.parse(t);
  return Number.isNaN(at) ? 0 : (now() - at) / 1000;
}

// until is the seconds left until an RFC 3339 time of the server.
export function until(t) {
  const at = Date.parse(t);
  return Number.isNaN(at) ? 0 : (at - now()) / 1000;
}

export function percent(v) {
  return v === null || v === undefined ? '—' : `${(v * 100).toFixed(1).replace('.', ',')} %`;
}

export function seconds(v) {
  return v === null || v === undefined ? '—' : `${Math.round(v)} s`;
}

// el makes an element with its class and text.
export function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) {
    e.className = cls;
  }
  if (text !== undefined && text !== null) {
    e.textContent = String(text);
  }
  return e;
}

// signIn checks a token with GET /api/me; check(me) returns an error
// message when this user cannot use the page.
export async function signIn(token, check) {
  const me = await api(token, 'GET', '/api/me');
  const refused = check(me);
  if (refused) {
    throw new ApiError(403, refused);
  }
  return me;
}

export function signInError(e) {
  if (e instanceof ApiError && e.status === 401) {
    return 'Jeton refusé : vérifiez-le ou demandez-en un nouveau.';
  }
  if (e instanceof ApiError && e.status === 429) {
    return 'Trop d\'essais : réessayez dans un instant.';
  }
  return e.message || String(e);
}
