"""Post-processing of the OpenAPI document, so that it says what the API really answers.

drf-spectacular describes each operation from its view; a few answers come from layers
the views don't see, and a fuzzer (schemathesis) rightly reports them as undocumented:

* every read is open to anonymous clients (published records only), so GET operations
  list the empty security requirement ``{}`` beside token and cookie authentication;
* any operation answers 404 for an unknown ``?format=`` and 406 for an ``Accept`` it
  cannot satisfy (DRF's content negotiation), 400 for a malformed query parameter such
  as ``as_of`` on a detail, and 429 when throttled.
"""

ERROR_REF = {"$ref": "#/components/schemas/Error"}

COMMON_ERRORS = {
    "400": "A query parameter is malformed (for example as_of or known_at), or a filter names an unknown record.",
    "404": "No such record, a page past the end, or an unknown ?format=.",
    "406": "No representation matches the Accept header.",
    "429": "Too many requests; see Retry-After.",
}

SAFE_METHODS = {"get", "head"}


def _error_response(description: str) -> dict:
    return {"content": {"application/json": {"schema": ERROR_REF}}, "description": description}


def document_common_answers(result, generator, request, public):
    """drf-spectacular POSTPROCESSING_HOOKS entry: adds what every operation may answer."""
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            for code, description in COMMON_ERRORS.items():
                responses.setdefault(code, _error_response(description))
            if method in SAFE_METHODS:
                security = operation.setdefault("security", [])
                if {} not in security:
                    security.append({})
    return result
