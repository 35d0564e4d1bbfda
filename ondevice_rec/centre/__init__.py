"""The privacy centre: a local page where a person sees what is held about them, why each pick was made and
what left the device, and controls it (consent per purpose, profile, export, erasure, retention).

``app(rec)`` returns a WSGI application (Flask) for an app to mount in its own webview or server;
``serve(rec)`` runs it on 127.0.0.1 (``odrec centre``). Every control calls the same :class:`Recommender`
methods as the CLI. A local page is still a server, so:

- every URL carries a random token (``/<token>/…``), required on every request (403 otherwise);
- the Host header must name a loopback address (DNS rebinding), unless the app lists its own hosts;
- every state-changing request carries a CSRF token; ``Content-Security-Policy: default-src 'self'``;
- all catalogue and user text is escaped by the templates (Jinja2 autoescape); no scripts, no CDN, no fonts:
  the chart is server-drawn SVG and every control is a plain HTML form.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ArgumentError, OdrecError, missing_extra
from ..inputs.items import check_id

if TYPE_CHECKING:
    from ..recommender import Recommender

__all__ = ["app", "serve", "LOOPBACK_HOSTS", "activity_chart"]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_HERE = Path(__file__).parent
CSP = "default-src 'self'; form-action 'self'; frame-ancestors 'self'; base-uri 'none'; object-src 'none'"
MAX_BARS = 120  # the activity chart groups weeks so that it never draws more bars than this
RECOMMENDATIONS = 10


def _flask() -> Any:
    try:
        import flask
    except ImportError:
        raise missing_extra("centre", "flask", "the privacy centre serves its page with Flask") from None
    return flask


def _hostname(host: str) -> str:
    """``Host`` header → host name without port (``[::1]:8080`` → ``::1``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(address: str) -> bool:
    """Is ``address`` (a bind address or host name) this machine only?"""
    if address in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def activity_chart(weekly: Iterable[dict[str, Any]], kinds: list[str]) -> dict[str, Any]:
    """Stacked bars of events per period by kind, as SVG geometry the template draws (no JavaScript). Weeks are
    grouped so that at most :data:`MAX_BARS` bars are drawn; the table beside the chart has the same data."""
    rows = list(weekly)
    if not rows:
        return {"bars": [], "weeks_per_bar": 1, "max": 0, "table": []}
    first = min(r["week"] for r in rows)
    last = max(r["week"] for r in rows)
    per = max(1, math.ceil((last - first + 1) / MAX_BARS))
    n_bars = (last - first) // per + 1
    counts = [[0] * len(kinds) for _ in range(n_bars)]
    for r in rows:
        counts[(r["week"] - first) // per][kinds.index(r["kind"])] += r["events"]
    top = max(sum(c) for c in counts) or 1
    width = 600 / n_bars
    bars = []
    table = []
    for b, c in enumerate(counts):
        start = time.strftime("%Y-%m-%d", time.gmtime((first + b * per) * 604800))
        y = 150.0
        segs = []
        for k, n in enumerate(c):
            if n:
                h = 140.0 * n / top
                y -= h
                segs.append({"kind": k, "x": round(b * width, 2), "y": round(y, 2), "h": round(h, 2), "n": n})
        bars.append({"start": start, "total": sum(c), "segments": segs, "w": round(max(width - 0.5, 0.5), 2)})
        if sum(c):
            table.append({"start": start, "counts": c, "total": sum(c)})
    return {
        "bars": bars,
        "weeks_per_bar": per,
        "max": top,
        "table": table,
        "first": bars[0]["start"],
        "last": bars[-1]["start"],
    }


def _when(ts: float | None) -> str:
    return "" if ts is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(float(ts)))


def app(
    rec: Recommender,
    *,
    user_id: str | None = None,
    token: str | None = None,
    allowed_hosts: Iterable[str] = (),
    controller: str | None = None,
    ip_hosts: bool = False,
) -> Any:
    """The privacy centre as a WSGI app over an open ``rec``. ``user_id`` pins the page to one person (an app
    showing its own user their data); without it the page lists the store's users (a developer's view).
    ``token`` (default: random) is the secret path prefix every request needs; ``app.config["ODREC_TOKEN"]``
    holds it and ``app.config["ODREC_URL_PATH"]`` the page's path. ``allowed_hosts``: Host names besides the
    loopback ones the app is served under; ``ip_hosts`` also accepts any IP address as Host (a page served on
    every interface: DNS rebinding needs a name, so names stay refused). ``controller``: who is responsible
    for the data and how to reach them ("Acme Ltd, privacy@acme.example"), shown with the person's rights
    (GDPR Art. 13(1)(a))."""
    flask = _flask()
    tok = token or secrets.token_urlsafe(24)
    if len(tok) < 16 or not all(c.isalnum() or c in "-_" for c in tok):
        raise ArgumentError("the centre token must be at least 16 URL-safe characters")
    web = flask.Flask(
        "ondevice_rec.centre",
        template_folder=str(_HERE / "templates"),
        static_folder=None,
    )
    web.config.update(ODREC_TOKEN=tok, ODREC_URL_PATH=f"/{tok}/", MAX_CONTENT_LENGTH=64 * 1024)
    web.jinja_env.autoescape = True
    web.jinja_env.filters["when"] = _when
    web.jinja_env.tests["egress"] = lambda action: str(action).startswith("egress")
    c = _Centre(flask, rec, user_id, tok, secrets.token_urlsafe(24), controller)
    _secure(web, c, LOOPBACK_HOSTS | {h.lower() for h in allowed_hosts}, ip_hosts)
    _pages(web, c)
    _controls(web, c)
    return web


@dataclass
class _Centre:
    """What every route of one centre reads: the open store, the pinned user, the secret path and CSRF tokens."""

    flask: Any
    rec: Recommender
    user_id: str | None
    tok: str
    csrf: str
    controller: str | None

    def check_user(self, uid: str) -> str:
        """``uid`` from the path, if this page may show it and a store can hold it (else 404, or 400 naming why)."""
        if self.user_id is not None and uid != self.user_id:
            self.flask.abort(404)
        try:
            check_id(uid, "user id")
        except OdrecError as e:
            self.flask.abort(self.flask.Response(f"400 Bad Request: {e}\n", status=400, mimetype="text/plain"))
        return uid

    def page_url(self, uid: str, **q: str) -> str:
        return str(self.flask.url_for("user_page", token=self.tok, uid=uid, **q))

    def back(self, uid: str, msg: str) -> Any:
        return self.flask.redirect(self.page_url(uid, msg=msg), code=303)


def _secure(web: Any, c: _Centre, hosts: frozenset[str], ip_hosts: bool) -> None:
    """Every request: a Host of this machine, the secret path token, the CSRF token on forms; every response:
    the security headers."""
    flask = c.flask

    def forbidden(why: str) -> Any:
        return flask.Response(f"403 Forbidden: {why}\n", status=403, mimetype="text/plain")

    @web.before_request
    def guard() -> Any:
        req = flask.request
        name = _hostname(req.host)
        if name not in hosts and not (ip_hosts and _is_ip(name)):
            return forbidden("this page answers only on this machine's own address")
        parts = req.path.split("/", 2)
        given = parts[1] if len(parts) > 1 else ""
        if not hmac.compare_digest(given.encode(), c.tok.encode()):
            return forbidden("the link's token is missing or wrong; open the address odrec centre printed")
        if req.method not in ("GET", "HEAD") and not hmac.compare_digest(
            (req.form.get("csrf") or "").encode(), c.csrf.encode()
        ):
            return forbidden("the form's CSRF token is missing or wrong; reload the page and try again")
        return None

    @web.after_request
    def headers(resp: Any) -> Any:
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "SAMEORIGIN"
        resp.headers["Cache-Control"] = "no-store"
        return resp


def _pages(web: Any, c: _Centre) -> None:
    """What the centre shows: the stylesheet, the list of users (unpinned), one user's page, their export."""
    flask, rec = c.flask, c.rec
    from markupsafe import Markup

    @web.get("/<token>/static/centre.css")
    def stylesheet(token: str) -> Any:
        return flask.Response((_HERE / "static" / "centre.css").read_text(), mimetype="text/css")

    @web.get("/<token>/")
    def index(token: str) -> Any:
        if c.user_id is not None:
            return flask.redirect(c.page_url(c.user_id))
        users = rec.list_users(0, 500)
        return flask.render_template("index.html", users=users, token=c.tok, total=rec.info().get("users"))

    @web.get("/<token>/u/<path:uid>")
    def user_page(token: str, uid: str) -> Any:
        c.check_user(uid)
        t0 = time.perf_counter()
        ov = rec.user_overview(uid)
        kinds = sorted({w["kind"] for w in ov.get("weekly", [])})
        try:
            recs = rec.recommend(uid, RECOMMENDATIONS)
            rec_error = None
        except OdrecError as e:
            recs, rec_error = [], str(e)
        status = ov.get("consent_status", {})
        return flask.render_template(
            "user.html",
            ov=ov,
            uid=uid,
            token=c.tok,
            csrf=c.csrf,
            kinds=kinds,
            chart=activity_chart(ov.get("weekly", []), kinds),
            purposes=rec.purposes(),
            status=status,
            recs=recs,
            rec_error=rec_error,
            personalised=bool(status.get("personalization")),
            msg=flask.request.args.get("msg", ""),
            pinned=c.user_id is not None,
            retention=rec.retention_days,
            controller=c.controller,
            details_json=lambda d: Markup.escape(json.dumps(d, sort_keys=True, ensure_ascii=False)),
            render_ms=lambda: round((time.perf_counter() - t0) * 1000, 1),
        )

    @web.get("/<token>/u/<path:uid>/export.json")
    def export(token: str, uid: str) -> Any:
        c.check_user(uid)
        data = json.dumps(rec.export_user(uid), ensure_ascii=False, indent=1, sort_keys=True)
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in uid)[:64]
        return flask.Response(
            data,
            mimetype="application/json",
            headers={"Content-Disposition": f'attachment; filename="odrec-export-{safe}.json"'},
        )


def _controls(web: Any, c: _Centre) -> None:
    """What the centre changes, each an SDK call: consent, profile, retention, erasure (confirmed first)."""
    flask, rec = c.flask, c.rec

    @web.post("/<token>/u/<path:uid>/consent")
    def consent(token: str, uid: str) -> Any:
        c.check_user(uid)
        purpose = flask.request.form.get("purpose", "")
        if purpose not in rec.purposes():
            flask.abort(400)
        grant = flask.request.form.get("decision") == "grant"
        handle = rec.consent(uid)
        (handle.grant if grant else handle.revoke)(purpose, source="privacy-centre")
        return c.back(uid, f"{'granted' if grant else 'withdrawn'}: {purpose}")

    @web.post("/<token>/u/<path:uid>/profile")
    def profile(token: str, uid: str) -> Any:
        c.check_user(uid)
        text = "" if flask.request.form.get("delete") else flask.request.form.get("text", "")
        try:
            rec.set_profile(uid, text)
        except OdrecError as e:
            return c.back(uid, f"profile not saved: {e}")
        return c.back(uid, "profile deleted" if not text.strip() else "profile saved")

    @web.post("/<token>/u/<path:uid>/retention")
    def retention(token: str, uid: str) -> Any:
        c.check_user(uid)
        try:
            days = float(flask.request.form.get("days", ""))
            n = rec.apply_retention(days, user_id=uid)
        except (ValueError, OdrecError):
            return c.back(uid, "retention: give a positive number of days")
        return c.back(uid, f"deleted {n} events older than {days:g} days")

    @web.get("/<token>/u/<path:uid>/erase")
    def erase_confirm(token: str, uid: str) -> Any:
        c.check_user(uid)
        return flask.render_template("erase.html", uid=uid, token=c.tok, csrf=c.csrf, done=None)

    @web.post("/<token>/u/<path:uid>/erase")
    def erase(token: str, uid: str) -> Any:
        c.check_user(uid)
        if flask.request.form.get("confirm") != "erase":
            return flask.redirect(flask.url_for("erase_confirm", token=c.tok, uid=uid), code=303)
        done = rec.forget_user(uid)
        return flask.render_template("erase.html", uid=uid, token=c.tok, csrf=c.csrf, done=done)


def check_serving(
    host: str,
    *,
    public: bool,
    user_id: str | None,
    cert: str | os.PathLike[str] | None,
    key: str | os.PathLike[str] | None,
    insecure_http: bool,
) -> None:
    """Raise :class:`ArgumentError` (one line) unless this way of serving is allowed: loopback, or ``public`` with
    one person's page over TLS (or plain HTTP explicitly)."""
    if not is_loopback(host) and not public:
        raise ArgumentError(
            f"refusing to serve the privacy centre on {host}: it shows personal data; bind 127.0.0.1 "
            "(the default) or pass --public if you really mean to expose it on your network"
        )
    if (cert is None) != (key is None):
        raise ArgumentError("TLS needs both --cert and --key (PEM files)")
    if not is_loopback(host):
        if user_id is None:
            raise ArgumentError(
                "refusing to serve every user's data on the network: pass --user to show one person's page"
            )
        if cert is None and not insecure_http:
            raise ArgumentError(
                f"refusing to serve personal data on {host} over plain HTTP: pass --cert and --key (TLS), or "
                "--insecure-http if the network is trusted"
            )


def serve(
    rec: Recommender,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    user_id: str | None = None,
    public: bool = False,
    ready: Any = None,
    controller: str | None = None,
    cert: str | os.PathLike[str] | None = None,
    key: str | os.PathLike[str] | None = None,
    insecure_http: bool = False,
) -> None:
    """Serve :func:`app` until interrupted. Refuses a non-loopback ``host`` unless ``public`` (the page then
    answers on that address's Host too), and a public page unless it shows one person (``user_id``) over TLS
    (``cert`` and ``key``, PEM files) or ``insecure_http`` says plain HTTP is meant. ``ready(url)`` is called once
    the socket listens."""
    _flask()
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        """No request log: every path carries the page's secret token."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            pass

    check_serving(host, public=public, user_id=user_id, cert=cert, key=key, insecure_http=insecure_http)
    tls = None
    if cert is not None and key is not None:
        import ssl

        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            tls.load_cert_chain(str(cert), str(key))
        except (OSError, ssl.SSLError) as e:
            raise ArgumentError(f"cannot use the TLS certificate/key ({type(e).__name__}: {e})") from None
    anywhere = host in ("0.0.0.0", "::")
    web = app(
        rec,
        user_id=user_id,
        allowed_hosts=() if is_loopback(host) or anywhere else (host,),
        controller=controller,
        ip_hosts=anywhere,
    )
    server = make_server(host, port, web, threaded=False, request_handler=QuietHandler, ssl_context=tls)
    shown = f"[{host}]" if ":" in host else host
    url = f"{'https' if tls else 'http'}://{shown}:{server.server_port}{web.config['ODREC_URL_PATH']}"
    if ready is not None:
        ready(url)
    try:
        server.serve_forever()
    finally:
        server.server_close()
