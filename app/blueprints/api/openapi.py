"""GET /api/v1/openapi.json: the API's OpenAPI 3.1 document (app/services/openapi.py), public.

No token (PUBLIC_ENDPOINTS in app/blueprints/api/__init__.py) and no API rate limit: it is the
same static document for everyone, and a client generator or a reader must be able to fetch it
before having a token.
"""

from flask import Response, jsonify

from app.blueprints.api import bp
from app.extensions import limiter
from app.services import openapi


@bp.get("/openapi.json")
@limiter.exempt
def openapi_document() -> Response:
    response = jsonify(openapi.document())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
