"""Errors as OpenAI shapes them: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from assay.errors import AssayError, ContextOverflowError, ModelCrashedError, UnknownModelError


class APIError(Exception):
    """An error with an HTTP status, raised anywhere in a request and rendered by a handler."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.param = param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.code, self.param)


class BodyTooLarge(APIError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"the request body is larger than {limit} bytes", code="request_too_large"
        )


def error_body(
    message: str, type_: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def from_assay_error(exc: AssayError) -> APIError:
    if isinstance(exc, UnknownModelError):
        return APIError(404, exc.message, code="model_not_found", param="model")
    if isinstance(exc, ContextOverflowError):
        return APIError(400, exc.message, code="context_length_exceeded", param="messages")
    if isinstance(exc, ModelCrashedError):
        # The server is fine and the next request starts the model afresh: retry.
        return APIError(
            503,
            exc.message,
            type_="server_error",
            code="model_crashed",
            headers={"Retry-After": "1"},
        )
    return APIError(500, exc.message, type_="server_error", code="model_error")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(AssayError)
    async def _assay_error(request: Request, exc: AssayError) -> JSONResponse:
        api = from_assay_error(exc)
        return JSONResponse(api.body(), status_code=api.status, headers=api.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(part) for part in first.get("loc", ()) if part != "body"]
        param = ".".join(loc) or None
        text = str(first.get("msg")).removeprefix("Value error, ")
        if first.get("type") == "json_invalid":
            message = "the request body is not valid JSON"
        elif not loc and first.get("type") == "value_error":
            message = text  # a rule across fields (top_logprobs needs logprobs, ...)
        elif not loc:
            message = "the request body must be a JSON object (Content-Type: application/json)"
        else:
            message = f"{param or 'body'}: {text}"
        return JSONResponse(error_body(message, "invalid_request_error", None, param), 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            error_body(str(exc.detail), "invalid_request_error", None, None),
            status_code=exc.status_code,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        message = f"internal error: {type(exc).__name__}: {exc}"
        return JSONResponse(error_body(message, "server_error", "internal_error"), 500)
