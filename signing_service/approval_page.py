"""The phone pages: pairing a device (passkey) and approving a remote signature with it.

Vietnamese first, one column for a phone. The only script is the WebAuthn ceremony below, allowed by
its hash in the Content-Security-Policy; it talks only to this origin. Nothing here is a secret: the
page shows what the signer is asked to approve, and only their passkey can approve it.
"""

from __future__ import annotations

import base64
import hashlib
import html
import time

from signing_service.approvals import PendingApproval

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:32rem;margin:auto;padding:1rem;line-height:1.5}
h1{font-size:1.3rem}.box{background:#f1f3f4;padding:1rem;border-radius:.5rem;margin:1rem 0}
.code{font-family:monospace;font-size:1.4rem;letter-spacing:.1rem}small{color:#555}
button{font-size:1.1rem;padding:.8rem 1.2rem;margin:.5rem .5rem .5rem 0;border-radius:.5rem;border:0}
#approve,#pair{background:#1a73e8;color:#fff}#deny{background:#e8eaed}#status{font-weight:bold}
"""

# The WebAuthn ceremony. The page's <main> says which ceremony (data-mode) and where to post.
_SCRIPT = """
const b64u = {
  dec: (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0)),
  enc: (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, ''),
};
const main = document.querySelector('main');
const status = document.getElementById('status');
const say = (text) => { status.textContent = text; };
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
  say('Đã ghép thiết bị. / Device paired.');
}
async function approve() {
  const o = await post(main.dataset.options);
  o.challenge = b64u.dec(o.challenge);
  o.allowCredentials = (o.allowCredentials || []).map((c) => ({...c, id: b64u.dec(c.id)}));
  const c = await navigator.credentials.get({publicKey: o});
  await post(main.dataset.finish, credentialJson(c));
  say('Đã phê duyệt. / Approved.');
}
async function run(action) {
  document.querySelectorAll('button').forEach((b) => { b.disabled = true; });
  try { await action(); } catch (e) { say('Không thành công / Failed: ' + e.message); }
}
const go = document.getElementById(main.dataset.mode);
if (go) go.addEventListener('click', () => run(main.dataset.mode === 'pair' ? pair : approve));
const deny = document.getElementById('deny');
if (deny) deny.addEventListener('click', () => run(async () => {
  await post(main.dataset.deny); say('Đã từ chối. / Refused.');
}));
"""


def _hash(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


PAGE_HEADERS = {
    "content-security-policy": (
        f"default-src 'none'; script-src 'sha256-{_hash(_SCRIPT)}'; "
        f"style-src 'sha256-{_hash(_STYLE)}'; connect-src 'self'; form-action 'none'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
}


def _page(title: str, main_attributes: str, body: str) -> str:
    return (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main {main_attributes}>{body}"
        '<p id="status" role="status"></p></main>'
        f"<script>{_SCRIPT}</script></body></html>"
    )


def pairing_page(code: str, name: str) -> str:
    base = f"/approve/pair/{html.escape(code)}"
    return _page(
        "Ghép thiết bị phê duyệt",
        f'data-mode="pair" data-options="{base}/options" data-finish="{base}"',
        "<h1>Ghép điện thoại để phê duyệt chữ ký</h1>"
        "<p><small>Pair this phone to approve your signatures</small></p>"
        f'<div class="box">Tài khoản / Account: <b>{html.escape(name)}</b></div>'
        "<p>Điện thoại sẽ yêu cầu vân tay, khuôn mặt hoặc mã PIN để tạo khoá đăng nhập (passkey)."
        "<br><small>The phone asks for your fingerprint, face or PIN to create a passkey.</small></p>"
        '<button id="pair" type="button">Ghép thiết bị / Pair</button>',
    )


def approval_page(approval: PendingApproval) -> str:
    base = f"/approve/{html.escape(approval.approval_id)}"
    minutes_left = max(int((approval.expires_at - time.time()) // 60), 0)
    description = html.escape(approval.description) if approval.description else "—"
    return _page(
        "Phê duyệt ký số",
        f'data-mode="approve" data-options="{base}/options" data-finish="{base}" '
        f'data-deny="{base}/deny"',
        "<h1>Yêu cầu ký số cần bạn phê duyệt</h1>"
        "<p><small>A signature needs your approval</small></p>"
        '<div class="box">'
        f"<p>Người ký / Signer: <b>{html.escape(approval.owner_name)}</b></p>"
        f"<p>Ứng dụng yêu cầu / Requested by: <b>{html.escape(approval.requested_by)}</b></p>"
        f"<p>Nội dung / Description: {description}</p>"
        f"<p>Số chữ ký / Signatures: <b>{len(approval.hashes)}</b></p>"
        "<p>Mã đối chiếu / Check code (so với mã trên ứng dụng):<br>"
        f'<span class="code">{approval.fingerprint}</span></p>'
        f"<p><small>Hết hạn sau khoảng {minutes_left} phút / expires in about "
        f"{minutes_left} min</small></p></div>"
        '<button id="approve" type="button">Phê duyệt / Approve</button>'
        '<button id="deny" type="button">Từ chối / Refuse</button>',
    )


def gone_page(message_vi: str, message_en: str) -> str:
    return _page(
        "Không còn hiệu lực",
        'data-mode="none"',
        f"<h1>{html.escape(message_vi)}</h1><p><small>{html.escape(message_en)}</small></p>",
    )
