"""Route templates for metric labels: never the raw path (service/http/route_labels.py)."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from service.http.route_labels import UNMATCHED, RouteTemplates


def build_app() -> FastAPI:
    app = FastAPI()
    router = APIRouter()

    @router.get("/audits/{request_id}")
    def get_audit(request_id: str) -> str:
        return request_id

    @app.post("/predict")
    def predict() -> str:
        return ""

    app.include_router(router)
    return app


def test_paths_map_to_their_route_template_or_one_unmatched_value() -> None:
    templates = RouteTemplates(build_app().routes)
    assert templates.template("/audits/3f2a-secret-request-id") == "/audits/{request_id}"
    assert templates.template("/predict") == "/predict"
    assert templates.template("/metrics") == "/metrics"
    assert templates.template("/static_content/swagger-ui.css") == "/static_content/{path}"
    for unknown in ("/audits/a/b", "/wp-admin/x.php", "/predict/extra", "/" + "x" * 500):
        assert templates.template(unknown) == UNMATCHED
