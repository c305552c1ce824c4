"""A deliberately weak web app on loopback, for the scanners' tests: no security header, a session
cookie without flags, and the three classic injection holes (reflected XSS in ``/search?q=``, SQL
injection in ``/item?id=``, an open redirect in ``/go?next=``), each linked from the home page so a
crawler finds them. With ``fixed=True`` the same pages have each hole closed (escaped output, a
parameterised query, redirects to the app's own paths only): the scanners' verdicts must differ."""

from __future__ import annotations

import html
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

_HOME = (
    '<a href="/search?q=sach">Tìm sách</a> <a href="/item?id=1">Sổ điểm</a> '
    '<a href="/go?next=/search">Đi tới</a>'
)


def _handler(fixed: bool, seen: list[str]) -> type[BaseHTTPRequestHandler]:
    database = sqlite3.connect(":memory:", check_same_thread=False)
    database.execute("CREATE TABLE items (id INTEGER, name TEXT)")
    database.execute("INSERT INTO items VALUES (1, 'Sổ điểm lớp 10A1')")
    lock = threading.Lock()

    class WeakApp(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/":
                self._page(_HOME)
            elif url.path == "/search":
                term = query.get("q", "")
                self._page(f"Kết quả cho {html.escape(term) if fixed else term}")
            elif url.path == "/item":
                self._item(query.get("id", "1"))
            elif url.path == "/go":
                target = query.get("next", "/")
                if fixed and not (target.startswith("/") and not target.startswith("//")):
                    target = "/"
                self.send_response(302)
                self.send_header("Location", target.replace("\r", "").replace("\n", ""))
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._page(f"Xin chào {html.escape(self.path) if fixed else self.path}")

        def _item(self, identifier: str) -> None:
            with lock:
                try:
                    if fixed:
                        rows = database.execute(
                            "SELECT name FROM items WHERE id = ?", (identifier,)
                        ).fetchall()
                    else:
                        rows = database.execute(
                            f"SELECT name FROM items WHERE id = {identifier}"  # noqa: S608
                        ).fetchall()
                except sqlite3.Error as exc:
                    self._page(f"SQLite error: {exc}", 500)
                    return
            self._page(html.escape(", ".join(str(r[0]) for r in rows)))

        def _page(self, body: str, status: int = 200) -> None:
            content = f"<html><body>{body}</body></html>".encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Set-Cookie", "SESSIONID=abc123; Path=/")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return WeakApp


@contextmanager
def weak_app(*, fixed: bool = False, seen: list[str] | None = None) -> Iterator[str]:
    """The app's base URL while it runs; ``seen`` collects the path and query of every request."""
    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), _handler(fixed, seen if seen is not None else [])
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
