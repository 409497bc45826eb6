// Helpers shared by the console's pages: requests to the admin listener
// and building DOM nodes. Everything that comes from the server is put in
// the page as text (textContent), never as HTML.

// getJSON fetches a path of the admin listener and decodes its JSON body;
// it throws on a network error or a status other than 200.
export async function getJSON(path) {
  const res = await fetch(path, { cache: 'no-store' });
  if (!res.ok) {
    let msg = res.status + ' ' + res.statusText;
    try { msg += ': ' + (await res.json()).errmsg; } catch (_) { /* not JSON */ }
    throw new Error(msg);
  }
  return res.json();
}

// tv calls the TradingView API mounted at /tv/ and unwraps its envelope:
// it returns d (or the whole body where there is no d) when s is "ok",
// and throws errmsg otherwise.
export async function tv(path, init) {
  const res = await fetch('/tv' + path, { cache: 'no-store', ...init });
  let body;
  try { body = await res.json(); } catch (_) { throw new Error(res.status + ' ' + res.statusText); }
  if (body.s && body.s !== 'ok') throw new Error(body.errmsg || body.s);
  if (!res.ok) throw new Error(res.status + ' ' + res.statusText);
  return 'd' in body ? body.d : body;
}

// el builds an element: el('td', {class: 'num'}, 'text', childNode, ...).
// Attributes starting with "on" are event listeners.
export function el(tag, attrs, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return n;
}

// fill replaces the children of the element with id by nodes, or by an
// "empty" note when there are none.
export function fill(id, nodes, emptyText) {
  const n = document.getElementById(id);
  n.replaceChildren(...(nodes.length || !emptyText ? nodes : [el('div', { class: 'empty' }, emptyText)]));
}

// setText sets the text of the element with id.
export function setText(id, text) {
  const n = document.getElementById(id);
  if (n) n.textContent = text;
}

// Times: the server speaks RFC 3339 (status) or Unix seconds (TradingView).
export function parseTime(v) {
  if (!v) return null;
  const d = new Date(v);
  return isNaN(d) || d.getUTCFullYear() < 1971 ? null : d;
}

export function ago(d, now = new Date()) {
  if (!d) return '—';
  const s = Math.round((now - d) / 1000);
  if (s < 0) return 'in ' + duration(-s);
  return duration(s) + ' ago';
}

export function duration(s) {
  if (s < 90) return s + 's';
  if (s < 5400) return Math.round(s / 60) + 'm';
  if (s < 172800) return (s / 3600).toFixed(1) + 'h';
  return (s / 86400).toFixed(1) + 'd';
}

// utc formats Unix seconds as "YYYY-MM-DD HH:MM" UTC (the chart's time axis).
export function utc(sec) {
  return new Date(sec * 1000).toISOString().slice(0, 16).replace('T', ' ');
}

export function num(v) {
  return typeof v === 'number' ? v.toLocaleString('en-US', { maximumFractionDigits: 8 }) : String(v ?? '—');
}
