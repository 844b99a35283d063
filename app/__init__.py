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
    from app.versions import ServedModel
    from app.web.front import Front

__version__ = "0.1.0"


def create_app(
    settings: Settings | None = None, predictor: Predictor | None = None, served: ServedModel | None = None
) -> Flask:
    """Build the Flask app serving ``served`` (several versions) or ``predictor`` (one version, no labels).

    With neither, the versions ``settings`` names are loaded now (blocking). ``app.extensions["served"]`` holds the
    ServedModel, ``app.extensions["predictor"]`` its default (highest) version.
    """
    from flask import Flask

    from app.prediction_log import PredictionLog
    from app.settings import Settings
    from app.startup import load_served
    from app.versions import ServedModel
    from app.web import auth, body, drift, errors, health, metrics, middleware, openapi, prediction_log, tfserving, v2

    settings = settings or Settings.from_env()
    if served is None:
        served = ServedModel([predictor]) if predictor is not None else load_served(settings)

    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=settings.max_request_bytes, PREDICT_ROUTE=settings.predict_route)
    app.extensions["served"] = served
    app.extensions["predictor"] = served.default
    app.extensions["settings"] = settings
    app.extensions["prediction_log"] = PredictionLog(settings.prediction_log)  # PREDICTION_LOG_*, feedback entries
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
        endpoint = prediction_log.VERTEX_PREDICT_ENDPOINT  # its entries say protocol "vertex"
        app.add_url_rule(settings.predict_route, endpoint, tfserving.predict, methods=["POST"])
    return app


def create_asgi_app(settings: Settings, predictor: Predictor | None = None, served: ServedModel | None = None) -> Front:
    """The production app: the front door (``app.web.front``) around ``create_app``'s Flask app."""
    from app.web.front import Front

    app = create_app(settings, predictor, served)
    default = app.extensions["predictor"]
    headers = [("X-Model-Name", default.name), ("X-Model-Version", str(default.version))]
    return Front(app, settings.front, headers)
