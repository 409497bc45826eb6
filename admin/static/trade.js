// The chart page's trading side, through the TradingView trading API at
// /tv/: the symbol's order book (/depth, every second) and, for the paper
// account (type "demo" in /accounts), an order ticket, the working orders
// with a cancel button, and the positions (every 2 seconds, as
// TradingView polls them).
import { tv, el, fill, setText, num } from './common.js';

const WORKING = new Set(['placing', 'inactive', 'working']);

export async function startTrading(sym) {
  let accounts;
  try {
    accounts = await tv('/accounts?locale=en');
  } catch (err) {
    noTrading('trading is not available here: ' + err.message);
    return;
  }
  const paper = accounts.find(a => a.type === 'demo');
  // /depth wants an account; any will do to read the book.
  const bookAccount = (paper || accounts[0] || {}).id;
  if (bookAccount) poll(() => depth(sym, bookAccount), 1000);
  if (!paper) {
    noTrading('no paper account: the trading backend is not paper');
    return;
  }
  setText('account', paper.name || paper.id);
  const acct = encodeURIComponent(paper.id);
  const state = { bid: null, ask: null };
  window.addEventListener('tvbridge-book', e => Object.assign(state, e.detail));

  const refresh = () => Promise.all([orders(acct, sym), positions(acct)]);
  poll(refresh, 2000);

  const type = document.getElementById('type');
  const price = document.getElementById('price');
  type.addEventListener('change', () => { price.disabled = type.value === 'market'; });

  document.getElementById('ticket').addEventListener('submit', async e => {
    e.preventDefault();
    const form = new URLSearchParams({
      instrument: sym.name,
      qty: document.getElementById('qty').value,
      side: document.getElementById('side').value,
      type: type.value,
    });
    if (type.value === 'limit') form.set('limitPrice', price.value);
    if (type.value === 'stop') form.set('stopPrice', price.value);
    if (state.ask !== null) form.set('currentAsk', state.ask);
    if (state.bid !== null) form.set('currentBid', state.bid);
    // One requestId per click: a retried request cannot place twice.
    const requestId = 'console-' + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    const result = document.getElementById('ticket-result');
    result.textContent = 'placing…';
    try {
      const d = await tv(`/accounts/${acct}/orders?locale=en&requestId=${requestId}`, {
        method: 'POST', body: form,
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
      result.textContent = `order ${d.orderId || ''} placed`;
      result.className = 'ok';
    } catch (err) {
      result.textContent = err.message;
      result.className = 'bad';
    }
    refresh();
  });
}

function noTrading(why) {
  document.getElementById('ticket').classList.add('hidden');
  setText('account', '');
  setText('ticket-result', why);
}

// poll runs f now and then every ms after it settles, whatever it throws.
function poll(f, ms) {
  const run = async () => {
    try { await f(); } catch (err) { console.warn(err); }
    setTimeout(run, ms);
  };
  run();
}

// depth shows the book: asks above bids, highest price first, and tells
// the ticket the best bid and ask.
async function depth(sym, account) {
  const d = await tv(`/depth?locale=en&accountId=${encodeURIComponent(account)}&symbol=${encodeURIComponent(sym.name)}`);
  const asks = (d.asks || []).slice().sort((a, b) => a[0] - b[0]).slice(0, 10).reverse();
  const bids = (d.bids || []).slice().sort((a, b) => b[0] - a[0]).slice(0, 10);
  window.dispatchEvent(new CustomEvent('tvbridge-book', {
    detail: { ask: asks.length ? asks[asks.length - 1][0] : null, bid: bids.length ? bids[0][0] : null },
  }));
  fill('depth-rows', [
    ...asks.map(([p, v]) => el('tr', {}, el('td', {}), el('td', { class: 'num ask' }, num(p)), el('td', { class: 'num' }, num(v)))),
    ...bids.map(([p, v]) => el('tr', {}, el('td', { class: 'num' }, num(v)), el('td', { class: 'num bid' }, num(p)), el('td', {}))),
  ], 'no book');
}

async function orders(acct, sym) {
  const list = ((await tv(`/accounts/${acct}/orders?locale=en`)) || []).filter(o => WORKING.has(o.status));
  fill('orders', list.map(o => el('tr', { 'data-order': o.id },
    el('td', { class: 'mono' }, o.id), el('td', {}, o.side), el('td', {}, o.type),
    el('td', { class: 'num' }, num(o.qty)), el('td', { class: 'num' }, num(o.limitPrice ?? o.stopPrice ?? '')),
    el('td', {}, o.status + (o.instrument !== sym.name ? ' · ' + o.instrument : '')),
    el('td', {}, el('button', {
      class: 'secondary', type: 'button',
      onclick: async () => {
        try { await tv(`/accounts/${acct}/orders/${encodeURIComponent(o.id)}?locale=en`, { method: 'DELETE' }); }
        catch (err) { setText('ticket-result', err.message); }
        orders(acct, sym);
      },
    }, 'cancel')),
  )), 'none');
}

async function positions(acct) {
  const list = (await tv(`/accounts/${acct}/positions?locale=en`)) || [];
  fill('positions', list.filter(p => p.qty !== 0).map(p => el('tr', { 'data-position': p.id },
    el('td', {}, p.instrument), el('td', {}, p.side), el('td', { class: 'num' }, num(p.qty)),
    el('td', { class: 'num' }, num(p.avgPrice)),
    el('td', { class: 'num ' + (p.unrealizedPl < 0 ? 'bad' : 'ok') }, num(p.unrealizedPl ?? 0)),
  )), 'none');
}
