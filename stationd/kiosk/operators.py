"""Operators (issue 8): sign in by badge or PIN, sign out, the idle lock, the admin's list, and
the scan history that says who packed what.

Every page shows who is signed in (the chip in the navigation, kept live over SSE). When the
station requires a sign-in, every page but the sign-in screen sends a person there first.
"""

from __future__ import annotations

from collections.abc import Iterator

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)

from stationd.core.barcodes import CodeKind, classify
from stationd.core.numbers import MAX_SMALL_ID, whole_number
from stationd.core.operators import PIN_DIGITS, OperatorRuleError
from stationd.events import Event, OperatorChanged, ScanRead
from stationd.kiosk.i18n import gettext as _
from stationd.kiosk.i18n import translate, translate_error
from stationd.kiosk.layout import is_htmx
from stationd.kiosk.redirects import local_path
from stationd.kiosk.stream import live_stream
from stationd.services.operators import (
    BadgeTaken,
    NoSuchOperator,
    OperatorService,
    PinLocked,
    WrongPin,
)

bp = Blueprint("operators", __name__)

#: Pages a person reaches without being signed in, also where a sign-in is required.
OPEN_ENDPOINTS = frozenset(
    {
        "static",
        "language",
        "health.healthz",
        "metrics.metrics",
        "operators.signin",
        "operators.pin_pad",
        "operators.sign_in_pin",
        "operators.badge",
        "operators.idle",
    }
)


def _service() -> OperatorService:
    return current_app.config["STATION"].operators


def _next_path(value: str | None) -> str:
    """Where to go after signing in: a path on this station only (never an open redirect)."""
    path = local_path(value, url_for("queue.page"))
    if path.startswith("/operators/"):
        return url_for("queue.page")
    return path


def _go(path: str):  # type: ignore[no-untyped-def]
    """Send the browser to `path`: htmx follows HX-Redirect, a plain request a 303."""
    if is_htmx():
        return Response(status=204, headers={"HX-Redirect": path})
    return redirect(path, code=303)


def _refuse(err: OperatorRuleError):  # type: ignore[no-untyped-def]
    code = 400
    if isinstance(err, NoSuchOperator):
        code = 404
    elif isinstance(err, BadgeTaken):
        code = 409
    elif isinstance(err, WrongPin):
        code = 403
    elif isinstance(err, PinLocked):
        code = 429
    abort(code, translate_error(err))


@bp.before_app_request
def _require_sign_in():  # type: ignore[no-untyped-def]
    """With `sign_in_required`, nothing but signing in works until someone has."""
    endpoint = request.endpoint or ""
    if endpoint in OPEN_ENDPOINTS or endpoint.endswith("events"):
        return None
    service = _service()
    if not service.sign_in_required or not service.sign_in_needed():
        return None
    here = request.full_path if request.method == "GET" else request.referrer or ""
    target = url_for("operators.signin", next=_local_part(here))
    return _go(target)


def _local_part(url: str) -> str:
    # The referrer is a whole URL; keep the path (and query) only.
    if "://" in url:
        url = "/" + url.split("://", 1)[1].partition("/")[2]
    return url.rstrip("?")


@bp.app_context_processor
def _operator_chip() -> dict:
    # Only the whole page's frame shows the chip: a fragment or a stream needs no query.
    if not has_request_context() or is_htmx() or (request.endpoint or "").endswith("events"):
        return {}
    if g.get("database_away"):  # the page that says so reads nothing
        return {}
    service = current_app.config["STATION"].operators
    state = service.state()
    return {
        "operator_state": state,
        # The lock only asks for someone once there is someone to ask for.
        "idle_lock_s": service.idle_lock_s if state.operators_exist else 0,
    }


@bp.get("/operators")
def page():  # type: ignore[no-untyped-def]
    service = _service()
    operator_id = _int_arg("operator")
    order_id = _int_arg("order", limit=10**18)
    context = {
        "operators": service.operators(),
        "history": service.history(operator_id=operator_id, order_id=order_id),
        "filter_operator": operator_id,
        "filter_order": order_id,
        "required": service.sign_in_required,
        "idle_lock_min": round(service.idle_lock_s / 60, 1),
        "pin_digits": PIN_DIGITS,
    }
    if is_htmx() and request.args.get("part") == "history":
        return render_template("operators_history.html", **context)
    return render_template("operators.html", **context)


def _int_arg(name: str, limit: int = MAX_SMALL_ID) -> int | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    number = whole_number(text, lo=1, hi=limit)
    if number is None:
        abort(400, _("{field} must be a whole number above 0.", field=name))
    return number


@bp.post("/operators")
def create():  # type: ignore[no-untyped-def]
    form = request.form
    if "name" not in form:
        abort(400, _("The form has no name field: reload the page."))
    try:
        operator = _service().create(
            form.get("name", ""), badge_code=form.get("badge", ""), pin=form.get("pin", "")
        )
    except OperatorRuleError as err:
        _refuse(err)
    if is_htmx():
        return render_template(
            "operators_list.html",
            operators=_service().operators(),
            created=operator,
        )
    return redirect(url_for("operators.page"), code=303)


@bp.post("/operators/<small_id:operator_id>/active")
def set_active(operator_id: int):  # type: ignore[no-untyped-def]
    active = request.form.get("active")
    if active not in ("0", "1"):
        abort(400, _("Say whether the operator is active (1) or not (0)."))
    try:
        _service().set_active(operator_id, active == "1")
    except OperatorRuleError as err:
        _refuse(err)
    if is_htmx():
        return render_template("operators_list.html", operators=_service().operators())
    return redirect(url_for("operators.page"), code=303)


@bp.get("/operators/signin")
def signin():  # type: ignore[no-untyped-def]
    """The sign-in (and idle lock) screen: scan a badge, or touch your name and type a PIN."""
    service = _service()
    state = service.state()
    return render_template(
        "operators_signin.html",
        operators=[o for o in service.operators() if o.active and o.has_pin],
        next_path=_next_path(request.args.get("next")),
        locked=request.args.get("locked") == "1",
        required=service.sign_in_needed(state),
        current=state.current,
    )


@bp.get("/operators/signin/<small_id:operator_id>")
def pin_pad(operator_id: int):  # type: ignore[no-untyped-def]
    operator = next((o for o in _service().operators() if o.id == operator_id), None)
    if operator is None or not operator.active or not operator.has_pin:
        abort(404, _("That operator can't sign in with a PIN."))
    return render_template(
        "operators_pinpad.html",
        operator=operator,
        next_path=_next_path(request.args.get("next")),
        pin_digits=PIN_DIGITS,
    )


@bp.post("/operators/signin/<small_id:operator_id>")
def sign_in_pin(operator_id: int):  # type: ignore[no-untyped-def]
    pin = request.form.get("pin")
    if pin is None:
        abort(400, _("The form has no PIN field: reload the page."))
    if not pin:
        abort(400, _("Type your PIN first."))
    try:
        _service().sign_in_pin(operator_id, pin[:64])
    except OperatorRuleError as err:
        _refuse(err)
    return _go(_next_path(request.form.get("next")))


@bp.post("/operators/badge")
def badge():  # type: ignore[no-untyped-def]
    """A badge typed or scanned on the sign-in screen: the bench's own use case signs it in."""
    code = request.form.get("code")
    if code is None:
        abort(400, _("The form has no code field: reload the page."))
    if classify(code).kind is not CodeKind.BADGE:
        abort(400, _("That is not an operator badge: badges start with OP-."))
    outcome = current_app.config["STATION"].bench.handle_scan(ScanRead(code.strip(), None, "kiosk"))
    if not outcome.ok:
        abort(403, translate(outcome.message))
    return _go(_next_path(request.form.get("next")))


@bp.post("/operators/signout")
def sign_out():  # type: ignore[no-untyped-def]
    _service().sign_out()
    return _go(url_for("operators.signin", next=_next_path(request.form.get("next"))))


@bp.post("/operators/idle")
def idle():  # type: ignore[no-untyped-def]
    """The page saw no touch for a while: lock now (if no scan either), or say when to ask again."""
    text = request.form.get("touch_idle_s", "")
    try:
        touch_idle_s = float(text)
    except ValueError:
        abort(400, _("touch_idle_s must be a number of seconds."))
    if not 0 <= touch_idle_s < 10**9:
        abort(400, _("touch_idle_s must be a number of seconds."))
    try:
        due_in = _service().idle_check(touch_idle_s)
    except OperatorRuleError as err:
        abort(409, translate_error(err))
    if due_in > 0:
        return {"lock": False, "retry_s": round(due_in, 1)}
    url = url_for("operators.signin", locked="1", next=_next_path(request.form.get("next")))
    return {"lock": True, "url": url}


@bp.get("/operators/events")
def events() -> Response:
    """The stream of a page with nothing live but who is signed in: the navigation's chip
    (`op=` the operator the page shows), and `signed_in` for the sign-in screen."""

    def nothing_else(_event: Event | None) -> Iterator[str]:
        return iter(())

    # live_stream adds the chip's messages to every page's stream that asks with `op=`.
    return live_stream((OperatorChanged,), nothing_else, operator_shown=0)
