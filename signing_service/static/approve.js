const b64u = {
  dec: (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)),
  enc: (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
};
const main = document.querySelector('main');
const status = document.getElementById('status');
const say = (text) => { status.textContent = text; };
// The page's words, in its language (data-said-*: set by the server).
const said = (name) => main.dataset['said' + name];
async function post(url, body) {
  const r = await fetch(url, {method: 'POST', headers: {'content-type': 'application/json'},
                              body: JSON.stringify(body || {})});
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(data.message || ('HTTP ' + r.status));
  return data;
}
function credentialJson(c) {
  const out = {id: c.id, rawId: b64u.enc(c.rawId), type: c.type, response: {}};
  for (const k of ['clientDataJSON', 'attestationObject', 'authenticatorData', 'signature', 'userHandle']) {
    if (c.response[k]) out.response[k] = b64u.enc(c.response[k]);
  }
  if (c.response.getTransports) out.response.transports = c.response.getTransports();
  return out;
}
async function pair() {
  const o = await post(main.dataset.options);
  o.challenge = b64u.dec(o.challenge);
  o.user.id = b64u.dec(o.user.id);
  o.excludeCredentials = (o.excludeCredentials || []).map((c) => ({...c, id: b64u.dec(c.id)}));
  const c = await navigator.credentials.create({publicKey: o});
  await post(main.dataset.finish, {credential: credentialJson(c), label: navigator.platform || ''});
  say(said('Paired'));
}
async function approve() {
  const o = await post(main.dataset.options);
  o.challenge = b64u.dec(o.challenge);
  o.allowCredentials = (o.allowCredentials || []).map((c) => ({...c, id: b64u.dec(c.id)}));
  const c = await navigator.credentials.get({publicKey: o});
  await post(main.dataset.finish, credentialJson(c));
  say(said('Approved'));
}
async function run(action) {
  document.querySelectorAll('button').forEach((b) => { b.disabled = true; });
  try { await action(); } catch (e) { say(said('Failed') + ' ' + e.message); }
}
const go = document.getElementById(main.dataset.mode);
if (go) go.addEventListener('click', () => run(main.dataset.mode === 'pair' ? pair : approve));
const deny = document.getElementById('deny');
if (deny) deny.addEventListener('click', () => run(async () => {
  await post(main.dataset.deny); say(said('Refused'));
}));
