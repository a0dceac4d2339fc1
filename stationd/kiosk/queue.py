"""The outbound queue (R9, R10): orders in packing that are not waiting, oldest first."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request

from stationd.store.orders import count_outbound_queue, outbound_queue

bp = Blueprint("queue", __name__)

PAGE_SIZE = 100


@bp.get("/queue")
def page():  # type: ignore[no-untyped-def]
    store = current_app.config["STATION"].store
    with store.read() as conn:
        total = count_outbound_queue(conn)
        pages = max(1, -(-total // PAGE_SIZE))
        try:
            page_no = min(pages, max(1, int(request.args.get("page", "1"))))
        except ValueError:
            page_no = 1
        rows = outbound_queue(conn, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE)
    template = "queue_rows.html" if request.headers.get("HX-Request") else "queue.html"
    return render_template(template, rows=rows, total=total, page=page_no, pages=pages)
