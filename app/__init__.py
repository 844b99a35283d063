"""A production server for exported TensorFlow SavedModels: TF Serving REST, V2 and Vertex AI APIs.

``create_app`` is the factory; nothing heavy happens at import time (gunicorn's master, tests and linters import
this package). ``python -m app`` starts the production server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from app.predictor import Predictor
    from app.settings import Settings
    from app.web.front import Front

__version__ = "0.1.0"


def create_app(settings: Settings | None = None, predictor: Predictor | None = None) -> Flask:
    """Build the Flask app. Without ``predictor``, the model named by ``settings`` is loaded now (blocking)."""
    from flask import Flask

    from app.settings import Settings
    from app.startup import load_predictor
    from app.web import auth, body, drift, errors, health, metrics, middleware, openapi, tfserving, v2

    settings = settings or Settings.from_env()
    predictor = predictor or load_predictor(settings)

    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_request_bytes, PREDICT_ROUTE=settings.predict_route)
    app.extensions["predictor"] = predictor
    app.extensions["settings"] = settings
    body.install_limits(app, settings.limits)  # MAX_INSTANCES, MAX_ELEMENTS, ... for the codecs
    errors.register_error_handlers(app)
    middleware.install(app, settings.access_log_sample)
    auth.install(app, settings)  # after the middleware, so 401/403 answers carry request ids and access lines
    for blueprint in (health.bp, tfserving.bp, v2.bp, openapi.bp, metrics.bp, drift.bp):
        app.register_blueprint(blueprint)
    app.add_url_rule("/readyz", "readyz", health.readyz, methods=["GET"])
    app.add_url_rule("/predict", "predict", tfserving.predict, methods=["POST"])
    # Vertex AI's custom-container contract: AIP_HEALTH_ROUTE and AIP_PREDICT_ROUTE.
    if settings.health_route != "/readyz":
        app.add_url_rule(settings.health_route, "aip_health", health.readyz, methods=["GET"])
    if settings.predict_route != "/predict":
        app.add_url_rule(settings.predict_route, "aip_predict", tfserving.predict, methods=["POST"])
    return app


def create_asgi_app(settings: Settings, predictor: Predictor) -> Front:
    """The production app: the front door (``app.web.front``) around ``create_app``'s Flask app."""
    from app.web.front import Front

    headers = [("X-Model-Name", predictor.name), ("X-Model-Version", str(predictor.version))]
    return Front(create_app(settings, predictor), settings.front, headers)
